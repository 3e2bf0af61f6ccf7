"""A local chain: anvil from the npm package @foundry-rs/anvil, installed in the project."""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path

import httpx

from dpo.embedded.process import ChildServer, ServerError

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Anvil's first well-known development account; never valid outside a local chain.
DEV_PRIVATE_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def anvil_binary() -> Path:
    """The anvil executable `make` installs under node_modules."""
    # The platform package holds the real binary; running it directly (not through the
    # node wrapper in .bin) means our stop signal reaches anvil itself.
    for path in sorted(PROJECT_ROOT.glob("node_modules/@foundry-rs/anvil-*/bin/anvil")):
        return path
    raise ServerError("anvil is not installed: run `make setup` (npm install)")


def rpc_call(url: str, method: str, params: list[object] | None = None) -> object:
    """One JSON-RPC call over plain HTTP, for readiness checks."""
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
    response = httpx.post(url, json=body, timeout=2)
    response.raise_for_status()
    return response.json()["result"]


class EmbeddedAnvil:
    """Start an anvil chain on 127.0.0.1:port, keeping its state in `folder` if asked.

    `load_state`: a dump to start from, read only. anvil's `--state` (what `persist` uses)
    also writes the dump back on stop, with the genesis block of that start added beside the
    loaded one; the genesis is stamped with the start's time, so each restart added a block 0
    of another hash, a later load could serve one that block 1 does not follow, and the
    listener refused the chain for ever. So a persisted chain records its genesis time in
    `genesis_timestamp` at its first start and every start passes it (`--timestamp`): each
    start's genesis is then the same block, and the dump keeps a single block 0. `--timestamp`
    also sets the chain's clock, which is put back to the wall clock once anvil answers. A dump
    from before the record gets its genesis time from a read-only load first; one that already
    holds several block 0s stays as it is (remove the folder to start the chain anew).
    """

    def __init__(
        self,
        folder: Path,
        port: int,
        *,
        chain_id: int = 31337,
        block_time: float | None = None,
        persist: bool = True,
        prune_history: bool = False,
        load_state: Path | None = None,
    ) -> None:
        self.folder = folder.resolve()
        self.port = port
        self.chain_id = chain_id
        self.block_time = block_time
        self.persist = persist
        self.prune_history = prune_history
        self.load_state = load_state
        self.server: ChildServer | None = None

    @property
    def url(self) -> str:
        """The chain's JSON-RPC URL."""
        return f"http://127.0.0.1:{self.port}"

    def _answers(self) -> bool:
        try:
            return rpc_call(self.url, "eth_chainId") is not None
        except (OSError, httpx.HTTPError):
            return False

    def start(self) -> str:
        """Start anvil unless a chain already answers on the port; return its URL."""
        if self._answers():
            logger.info("reusing the chain already answering on port %s", self.port)
            return self.url
        self.folder.mkdir(parents=True, exist_ok=True)
        argv = [
            str(anvil_binary()),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
        ]
        if self.block_time:
            argv += ["--block-time", str(self.block_time)]
        if self.prune_history:
            # Only the newest state in memory (none on disk): a long emitted history fits in RAM.
            argv += ["--prune-history"]
        else:
            # Old block states past anvil's in-memory window would otherwise be written to
            # ~/.foundry/anvil/tmp and never removed after a kill: long histories fill the disk.
            argv += ["--max-persisted-states", "0"]
        if self.persist:
            # The chain survives restarts, so deployed contracts and history stay put.
            argv += ["--state", str(self.folder / "state.json")]
            argv += ["--timestamp", self._genesis_timestamp()]
        if self.load_state is not None:
            argv += ["--load-state", str(self.load_state)]
        self.server = ChildServer(
            "anvil", argv, log_path=self.folder / "anvil.log", stop_signal=signal.SIGTERM
        )
        self.server.start()
        self.server.wait_ready(self._answers)
        if self.persist:
            rpc_call(self.url, "evm_setTime", [int(time.time())])
        logger.info("anvil listening on %s", self.url)
        return self.url

    def _genesis_timestamp(self) -> str:
        """The persisted chain's genesis time: recorded, now for a new chain, or read from a
        dump made before the record (loaded once read only, so no other genesis is added)."""
        record, dump = self.folder / "genesis_timestamp", self.folder / "state.json"
        if not record.exists():
            stamp = int(time.time())
            if dump.exists():
                probe = EmbeddedAnvil(
                    self.folder / "probe",
                    self.port,
                    chain_id=self.chain_id,
                    persist=False,
                    load_state=dump,
                )
                url = probe.start()
                try:
                    # Block 1's parent is the genesis the chain was built on.
                    block = rpc_call(url, "eth_getBlockByNumber", ["0x1", False])
                    if isinstance(block, dict):
                        block = rpc_call(url, "eth_getBlockByHash", [block["parentHash"], False])
                    else:
                        block = rpc_call(url, "eth_getBlockByNumber", ["0x0", False])
                    stamp = int(block["timestamp"], 16) if isinstance(block, dict) else stamp
                finally:
                    probe.stop()
            record.write_text(f"{stamp}\n")
        return record.read_text().strip()

    def stop(self) -> None:
        """Stop anvil if this object started it (it writes its state on the way out)."""
        if self.server is not None:
            self.server.stop()
            self.server = None

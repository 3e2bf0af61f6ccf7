"""All simulators under one port, run by `dpo sandbox`, `dpo up --demo` and the tests."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from sandbox.billbitts import BillBittsSim
from sandbox.csd import ClearstreamSim, CsdSim
from sandbox.ecb import EcbSim
from sandbox.faults import ConnectionDropped
from sandbox.omnisend import OmnisendSim
from sandbox.xetra import XetraSim

# Keys the demo configures and the simulators expect (not secrets: sandbox only).
DEMO_KEYS = {
    "EUROCLEAR_API_KEY": "sandbox-euroclear-key",
    "CLEARSTREAM_PMI_KEY": "sandbox-clearstream-key",
    "XETRA_API_KEY": "sandbox-xetra-key",
    "OMNISEND_API_KEY": "sandbox-omnisend-key",
    "BILLBITTS_API_KEY": "sandbox-billbitts-key",
}


@dataclass
class World:
    """Every simulator and its state."""

    keys: dict[str, str] = field(default_factory=lambda: dict(DEMO_KEYS))

    def __post_init__(self) -> None:
        self.ecb = EcbSim()
        self.xetra = XetraSim(api_key=self.keys.get("XETRA_API_KEY"))
        self.euroclear = CsdSim("euroclear", api_key=self.keys.get("EUROCLEAR_API_KEY"))
        self.clearstream = ClearstreamSim(api_key=self.keys.get("CLEARSTREAM_PMI_KEY"))
        self.omnisend = OmnisendSim(api_key=self.keys.get("OMNISEND_API_KEY"))
        self.billbitts = BillBittsSim(api_key=self.keys.get("BILLBITTS_API_KEY"))

    def app(self) -> Starlette:
        """One app with each simulator under its prefix."""
        return Starlette(
            routes=[
                Mount("/ecb", app=self.ecb.app()),
                Mount("/xetra", app=self.xetra.app()),
                Mount("/euroclear", app=self.euroclear.app()),
                Mount("/clearstream", app=self.clearstream.app()),
                Mount("/omnisend/v3", app=self.omnisend.app()),
                Mount("/billbitts", app=self.billbitts.app()),
            ]
        )

    def reset(self) -> None:
        """Initial state, no faults, empty logs, everywhere."""
        for sim in (
            self.ecb,
            self.xetra,
            self.euroclear,
            self.clearstream,
            self.omnisend,
            self.billbitts,
        ):
            sim.faults.clear()
            sim.requests.clear()
            sim.reset_state()


def environment(base_url: str, keys: dict[str, str] | None = None) -> dict[str, str]:
    """The settings that point the platform at a sandbox served at `base_url`."""
    base = base_url.rstrip("/")
    return {
        "ECB_FX_URL": f"{base}/ecb/eurofxref-daily.xml",
        "XETRA_API_BASE": f"{base}/xetra",
        "EUROCLEAR_API_BASE": f"{base}/euroclear",
        "CLEARSTREAM_PMI_BASE": f"{base}/clearstream",
        "OMNISEND_API_BASE": f"{base}/omnisend/v3",
        "BILLBITTS_API_URL": f"{base}/billbitts",
        "CLEARSTREAM_PARTICIPANT_ID": "SANDBOX1",
        "XETRA_PARTICIPANT_ID": "SANDBOX1",
        **(keys if keys is not None else DEMO_KEYS),
    }


class _QuietDrops(logging.Filter):
    """Drop uvicorn's traceback for the connection-drop fault (it is the point of it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionDropped))


def quiet_drops() -> None:
    """Install the filter on uvicorn's error logger (idempotent)."""
    target = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in target.filters):
        target.addFilter(_QuietDrops())


class Sandbox:
    """The simulators served by uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, world: World | None = None, *, port: int = 0) -> None:
        quiet_drops()
        self.world = world or World()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", port))
        self.port: int = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(
            uvicorn.Config(self.world.app(), log_level="warning", lifespan="off", log_config=None)
        )
        self._thread = threading.Thread(target=self._run, name="sandbox", daemon=True)

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._socket]))

    def start(self) -> Sandbox:
        """Serve until `stop`; returns once accepting connections."""
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the sandbox did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.should_exit = True
        self._thread.join(10)
        self._socket.close()

    def environment(self) -> dict[str, str]:
        """Settings pointing at this sandbox."""
        return environment(self.url, self.world.keys)

"""write_env updates KEY=VALUE lines of a dotenv file and keeps everything else."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from dpo.chain.deploy import write_env

ADDRESS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def test_creates_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    write_env(path, {"ISSUANCE_CONTRACT_ADDRESS": ADDRESS, "STO_CONTRACT_ADDRESS": ADDRESS})
    assert path.read_text() == (
        f"ISSUANCE_CONTRACT_ADDRESS={ADDRESS}\nSTO_CONTRACT_ADDRESS={ADDRESS}\n"
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_updates_in_place_and_keeps_other_lines(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(
        "# Chain\n"
        "BLOCKCHAIN_RPC_URL=http://127.0.0.1:8545\n"
        "ISSUANCE_CONTRACT_ADDRESS=0x...\n"
        "\n"
        "export STO_CONTRACT_ADDRESS = 0xold\n"
        "ISSUANCE_CONTRACT_ADDRESS_BACKUP=keep\n"
        "ISSUANCE_CONTRACT_ADDRESS=0xdup\n"
    )
    path.chmod(0o640)
    write_env(
        path,
        {
            "ISSUANCE_CONTRACT_ADDRESS": ADDRESS,
            "STO_CONTRACT_ADDRESS": ADDRESS,
            "EUROCLEAR_BRIDGE_CONTRACT_ADDRESS": ADDRESS,
        },
    )
    assert path.read_text() == (
        "# Chain\n"
        "BLOCKCHAIN_RPC_URL=http://127.0.0.1:8545\n"
        f"ISSUANCE_CONTRACT_ADDRESS={ADDRESS}\n"
        "\n"
        f"export STO_CONTRACT_ADDRESS={ADDRESS}\n"
        "ISSUANCE_CONTRACT_ADDRESS_BACKUP=keep\n"
        f"ISSUANCE_CONTRACT_ADDRESS={ADDRESS}\n"
        f"EUROCLEAR_BRIDGE_CONTRACT_ADDRESS={ADDRESS}\n"
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert not list(tmp_path.glob(".*.tmp"))


def test_quotes_values_that_need_it(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    write_env(path, {"NAME": 'a "b" #c'})
    assert path.read_text() == 'NAME="a \\"b\\" #c"\n'


@pytest.mark.parametrize(("key", "value"), [("BAD KEY", "x"), ("1X", "x"), ("OK", "a\nb")])
def test_refuses_bad_keys_and_multiline_values(tmp_path: Path, key: str, value: str) -> None:
    path = tmp_path / ".env"
    with pytest.raises(ValueError, match=r"."):
        write_env(path, {key: value})
    assert not path.exists()

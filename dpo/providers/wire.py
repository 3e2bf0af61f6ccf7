"""Strict decoding of provider JSON bodies into pydantic models."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from dpo.errors import ProviderMalformed

M = TypeVar("M", bound=BaseModel)
MAX_UINT256 = 2**256 - 1


def decode(provider: str, model: type[M], body: bytes) -> M:
    """`body` as `model`, or ProviderMalformed naming the first problem (never echoing data)."""
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        kind = "not JSON" if first["type"] == "json_invalid" else f"{where}: {first['type']}"
        raise ProviderMalformed(provider, f"unexpected answer ({kind})") from None

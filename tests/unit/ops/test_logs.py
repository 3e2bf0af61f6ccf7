"""Log lines: JSON objects in production, text elsewhere, stamped, and never carrying a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from dpo.logs import JsonLineFormatter, RequestIdFilter, TextFormatter, request_id_var
from dpo.settings import Settings

SECRET = "9c1d4e7f2a5b8c3d6e9f0a1b4c7d2e5f8a3b6c9d0e1f4a7b2c5d8e3f6a9b0c1d"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO, logging.StreamHandler[io.StringIO]]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter("listener"))
    logger = logging.getLogger("dpo.test_logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream, handler
    logger.removeHandler(handler)


def test_json_line_has_the_fields(
    captured: tuple[logging.Logger, io.StringIO, logging.StreamHandler[io.StringIO]],
) -> None:
    logger, stream, handler = captured
    handler.setFormatter(JsonLineFormatter())
    token = request_id_var.set("req-42")
    try:
        logger.warning("batch %d of %s\nsecond line", 7, "blocks", extra={"block": 12})
    finally:
        request_id_var.reset(token)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1  # a newline in the message stays inside the object
    record = json.loads(lines[0])
    assert record["level"] == "WARNING"
    assert record["logger"] == "dpo.test_logs"
    assert record["message"] == "batch 7 of blocks\nsecond line"
    assert record["request_id"] == "req-42"
    assert record["service"] == "listener"
    assert record["block"] == 12
    assert record["time"].endswith("+00:00")


def test_json_traceback_is_one_line_and_redacted(
    captured: tuple[logging.Logger, io.StringIO, logging.StreamHandler[io.StringIO]],
) -> None:
    logger, stream, handler = captured
    quoted = 'pa"ss\\word-123'
    handler.setFormatter(JsonLineFormatter([SECRET, quoted]))
    try:
        raise RuntimeError(f"connect to postgresql://u:{SECRET}@db/x failed")
    except RuntimeError:
        logger.exception("could not start with %s", quoted)
    text = stream.getvalue()
    assert len(text.splitlines()) == 1
    record = json.loads(text)
    assert SECRET not in text
    assert "word-123" not in text  # its JSON-escaped form is redacted too
    assert record["message"] == "could not start with ***"
    assert "postgresql://u:***@db/x" in record["exc_info"]


def test_text_line_is_redacted(
    captured: tuple[logging.Logger, io.StringIO, logging.StreamHandler[io.StringIO]],
) -> None:
    logger, stream, handler = captured
    handler.setFormatter(TextFormatter([SECRET]))
    logger.info("key=%s", SECRET)
    line = stream.getvalue()
    assert SECRET not in line
    assert " INFO dpo.test_logs service=listener request_id=- key=***" in line


def test_format_follows_the_environment() -> None:
    assert Settings(_env_file=None, ENVIRONMENT="production").log_json
    assert not Settings(_env_file=None, ENVIRONMENT="development").log_json
    assert not Settings(_env_file=None, ENVIRONMENT="production", LOG_FORMAT="text").log_json
    assert Settings(_env_file=None, ENVIRONMENT="development", LOG_FORMAT="json").log_json
    assert not Settings(_env_file=None, ENVIRONMENT="staging", LOG_FORMAT="").log_json


def test_secret_values_cover_keys_and_url_passwords() -> None:
    settings = Settings(
        _env_file=None,
        DJANGO_SECRET_KEY=SECRET,
        DATABASE_URL="postgresql://app:db-password-1@db.internal:5432/dpo",
        REDIS_URL="redis://default:redis-pass-2@redis.internal:6379/0",
        API_HMAC_SECRET="hmac-secret-3",
    )
    values = settings.secret_values()
    for secret in (SECRET, "db-password-1", "redis-pass-2", "hmac-secret-3"):
        assert secret in values
    assert values == sorted(values, key=len, reverse=True)
    assert isinstance(settings.database_url, SecretStr)

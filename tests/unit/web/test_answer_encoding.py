"""The JSON answer of /graphql (orjson, with the standard library's encoder as the fallback)
and the query budget's limiter, built once per Redis client instead of once per operation."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response

from app.graphql import cost
from app.graphql.http import encode_answer
from app.graphql.view import GraphQLView
from dpo.settings import Settings
from dpo.settings.streaming import StreamingSettings
from resolvers.loaders import RequestLoaders
from schema.context import Context


def test_answers_are_the_compact_json_of_the_standard_encoder() -> None:
    answer = {"data": {"a": [1, 2.5, None, True, 'x"y\\z'], "b": {}}, "extensions": {"c": 1}}
    assert encode_answer(answer) == json.dumps(answer, separators=(",", ":")).encode()


def test_non_ascii_is_written_as_utf8_the_same_json() -> None:
    body = encode_answer({"data": {"name": "Société Générale ✓"}})
    assert "Société Générale ✓".encode() in body  # orjson; json.dumps writes \\u escapes
    assert json.loads(body) == {"data": {"name": "Société Générale ✓"}}


def test_integers_beyond_64_bits_fall_back_and_stay_exact() -> None:
    big = 2**200 + 1
    assert json.loads(encode_answer({"data": {"n": big}})) == {"data": {"n": big}}


def test_the_view_answers_with_encode_answer() -> None:
    view = GraphQLView(lambda _: None, debug=False, knobs=StreamingSettings())
    sub = Response()
    sub.status_code = None  # type: ignore[assignment]
    sub.headers["x-extra"] = "1"
    response = view.create_response({"data": {"name": "é"}}, sub)
    assert response.body == '{"data":{"name":"é"}}'.encode()
    assert response.status_code == 200
    assert response.headers["x-extra"] == "1"
    assert response.headers["content-type"] == "application/json"


class Limiter:
    made = 0

    def __init__(self, redis: object, *, prefix: str) -> None:
        Limiter.made += 1

    async def spend(self, key: str, *, budget: tuple[int, int], weight: int) -> Any:
        return SimpleNamespace(allowed=True, degraded=False, remaining=1, retry_after=0)


@pytest.mark.asyncio
async def test_the_meter_builds_its_limiter_once_per_redis_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cost, "RateLimiter", Limiter)
    meter = cost.cost_meter(Settings.model_validate({"GRAPHQL_COST_PER_MINUTE": "6000"}))
    request = Request({"type": "http", "client": ("127.0.0.1", 1), "headers": []})

    def execution(redis: object) -> Any:
        runtime = SimpleNamespace(redis=redis)
        context = Context(request=request, runtime=runtime, make_loaders=RequestLoaders)  # type: ignore[arg-type]
        return SimpleNamespace(context=context)

    first, second = object(), object()
    for redis in (first, first, first, second, second):
        spent = await meter(execution(redis), 5)
        assert spent.allowed
        assert spent.per_minute == 6000
    assert Limiter.made == 2

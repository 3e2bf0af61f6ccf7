"""/metrics through a real uvicorn: counters move, access is private or by token."""

from __future__ import annotations

import re

import httpx

from tests.e2e.conftest import base_env, web_server


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition, 0 if absent."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if found == labels:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_counters_move_after_requests(migrated_url: str, redis_url: str) -> None:
    env = base_env(DATABASE_URL=migrated_url, REDIS_URL=redis_url)
    with web_server(env) as base:
        before = httpx.get(base + "/metrics").text
        for _ in range(3):
            httpx.post(
                base + "/graphql",
                json={"query": "query Status { status { version } }", "operationName": "Status"},
            )
        httpx.post(base + "/graphql", json={"query": "{ status { nope } }"})
        httpx.post(base + "/graphql", json={"query": "query Dyn_9f3 { status { version } }"})
        after_response = httpx.get(base + "/metrics")
    after = after_response.text
    assert after_response.status_code == 200
    assert after_response.headers["content-type"].startswith("text/plain")
    labels = {"method": "POST", "route": "/graphql", "status": "200"}
    assert (
        sample(after, "dpo_http_requests_total", **labels)
        - sample(before, "dpo_http_requests_total", **labels)
        == 5
    )
    assert (
        sample(
            after, "dpo_graphql_operations_total", operation_name="Status", operation_type="query"
        )
        == 3
    )
    assert sample(after, "dpo_graphql_operation_seconds_count", operation_name="Status") == 3
    assert sample(after, "dpo_graphql_errors_total", code="VALIDATION") >= 1
    assert sample(after, "dpo_http_request_seconds_count", route="/graphql") >= 5
    assert (
        sample(after, "dpo_http_requests_total", method="GET", route="/metrics", status="200") >= 1
    )


def test_metrics_private_or_with_token(migrated_url: str, redis_url: str) -> None:
    env = base_env(DATABASE_URL=migrated_url, REDIS_URL=redis_url, METRICS_TOKEN="s3cret-token")
    public = {"X-Forwarded-For": "8.8.4.4"}
    with web_server(env) as base:
        local = httpx.get(base + "/metrics")
        refused = httpx.get(base + "/metrics", headers=public)
        wrong = httpx.get(base + "/metrics", headers={**public, "Authorization": "Bearer nope"})
        allowed = httpx.get(
            base + "/metrics", headers={**public, "Authorization": "Bearer s3cret-token"}
        )
    assert local.status_code == 200
    assert refused.status_code == 403
    assert wrong.status_code == 403
    assert allowed.status_code == 200
    assert "dpo_http_requests_total" in allowed.text
    assert "s3cret" not in allowed.text

"""The GraphQL clients a frontend team uses, with their defaults, against a real `dpo web`.

tests/clients/ is a Node project of its own (installed by `make setup`): Apollo Client 4
(HttpLink, GraphQLWsLink), urql, graphql-ws and graphql-sse, each test a `node --test` file
there. This module seeds one database, starts one server on it, and runs them all in one
`node --test` process; the server's URL, tokens and seeded ids reach them as environment
variables (`client_env`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dpo.auth.tokens import ACCESS_TTL, create_access_token
from tests.e2e.http_seed import World, seed, settings
from tests.e2e.http_world import Caller, principals, serve
from tests.integration.api.committed import Api

CLIENTS = Path(__file__).resolve().parents[1] / "clients"

pytestmark = pytest.mark.timeout(300)


def client_env(base: str, world: World) -> dict[str, str]:
    """What the Node tests read: the server, a token per role, an expired one, seeded ids."""
    roles = principals(world)
    past = datetime.now(UTC) - ACCESS_TTL - timedelta(minutes=5)
    tokens = {
        name: create_access_token(roles[name], settings=settings()).token
        for name in ("admin", "investor")
    }
    tokens["expired"] = create_access_token(roles["admin"], settings=settings(), now=past).token
    return {
        "DPO_URL": base,
        "DPO_TOKENS": json.dumps(tokens),
        "DPO_IDS": json.dumps(
            {
                "openOffering": world.gid("Offering", "acme_open"),
                "investorAddress": world.addresses["investor"],
            }
        ),
    }


def node() -> str:
    """The node binary (a missing one fails the test: the suite needs it)."""
    found = shutil.which("node")
    assert found is not None, "node is not installed (README: Node.js 20+)"
    assert (CLIENTS / "node_modules").is_dir(), "run `make setup` to install tests/clients"
    return found


def run_node_tests(base: str, world: World, *files: str) -> subprocess.CompletedProcess[str]:
    """`node --test FILES` in tests/clients against the server at `base`."""
    env = {**os.environ, **client_env(base, world)}
    return subprocess.run(
        [node(), "--test", "--test-reporter=tap", *files],
        cwd=CLIENTS,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.fixture(scope="module")
async def world(api: Api) -> World:
    return await seed(api)


@pytest.fixture(scope="module")
async def server(api: Api, world: World, redis_url: str) -> AsyncIterator[str]:
    # Cached answers stay valid long enough for a loaded machine to ask twice.
    async with serve(api, world, redis_url, RESPONSE_CACHE_MAX_AGE="60") as callers:
        anonymous: Caller = callers["anonymous"]
        yield str(anonymous.client.base_url).rstrip("/")


async def test_real_clients_with_their_defaults(server: str, world: World) -> None:
    """Every *.test.mjs of tests/clients passes against the server."""
    files = sorted(p.name for p in CLIENTS.glob("*.test.mjs"))
    assert files, "no client tests found"
    result = run_node_tests(server, world, *files)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert "# fail 0" in result.stdout, result.stdout[-5000:]
    assert "# todo 0" in result.stdout, result.stdout[-3000:]
    assert "# skipped 0" in result.stdout, result.stdout[-3000:]

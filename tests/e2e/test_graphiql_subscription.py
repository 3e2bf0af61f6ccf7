"""GraphiQL in headless Chromium: a subscription started in the page shows a live event.

The access token goes in GraphiQL's headers editor (here through the page's `headers` URL
parameter, as a shared link would carry it); GraphiQL sends the headers as the
`connection_init` payload of its graphql-transport-ws socket. The event is stored the
listener's way (ingest_batch, then the Redis doorbell) once the server counts the
subscription, so it can only arrive live.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest
import redis.asyncio as aioredis

from tests.e2e import test_subscriptions as subscriptions
from tests.e2e.conftest import web_server
from tests.e2e.test_graphiql_browser import UNPKG, chromium
from tests.e2e.test_subscriptions import Sessions, bearer, server_env
from tests.e2e.test_subscriptions_slow import metric, metrics_when
from tests.integration.streaming.support import ALICE, FakeChain

pytestmark = pytest.mark.timeout(240)

feed_db = subscriptions.feed_db
redis = subscriptions.redis
SUBSCRIPTION = "subscription { events { cursor node { eventName args } } }"
RESULT = (
    "(() => { const cm = document.querySelector('.result-window .CodeMirror');"
    " const v = cm && cm.CodeMirror.getValue(); return v && v.includes('\"cursor\"')"
    " ? v : ''; })()"
)


async def test_a_subscription_started_in_graphiql_shows_a_live_event(
    feed_db: tuple[str, Sessions], redis_url: str, redis: aioredis.Redis, tmp_path: Path
) -> None:
    url, sessions = feed_db
    chain = FakeChain(sessions)
    env = server_env(url, redis_url, DEBUG="true")
    headers = json.dumps({"Authorization": bearer()["authorization"]})
    with web_server(env) as base, chromium(tmp_path / "profile") as page:
        page.call("Fetch.enable", patterns=[{"urlPattern": UNPKG + "*"}])
        page.call("Page.enable")
        page.call("Page.navigate", url=f"{base}/graphql?headers={quote(headers)}")
        editor = "document.querySelector('.graphiql-query-editor .CodeMirror')"
        page.wait_for(f"!!{editor}")
        page.evaluate(
            f"(() => {{ const cm = {editor}.CodeMirror; cm.focus();"
            " cm.execCommand('selectAll'); return true; })()"
        )
        page.call("Input.insertText", text=SUBSCRIPTION)
        typed = page.evaluate(f"{editor}.CodeMirror.getValue()")
        # GraphiQL sends an operation over the socket once it has parsed it as a subscription.
        page.wait_for(
            f"(() => {{ const ast = {editor}.CodeMirror.documentAST;"
            " return !!ast && ast.definitions[0].operation === 'subscription'; })()"
        )
        page.evaluate("document.querySelector('.graphiql-execute-button').click()")
        await metrics_when(base, lambda text: metric(text, "dpo_feed_subscriptions") == 1)
        first, _ = await chain.emit(1, to=ALICE, redis=redis)
        output = page.wait_for(RESULT)
    assert typed == SUBSCRIPTION
    edge = json.loads(output)["data"]["events"]
    assert edge["cursor"] == str(first)
    assert edge["node"]["eventName"] == "Transfer"
    assert edge["node"]["args"]["to"] == ALICE

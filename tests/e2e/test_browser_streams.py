"""Event streams from a page of another origin, in headless Chromium: CORS as a browser applies it.

The page (served from its own port, so another origin) asks `streamTicket` for a ticket and
opens the browser's own EventSource with it, then reads the stream with fetch, as
fetch-based SSE clients do, sending `Authorization` and `Last-Event-ID`: the browser
preflights those headers and the stream resumes after the id.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from dpo.auth.principal import Kind, Principal
from tests.e2e import test_subscriptions as subscriptions
from tests.e2e.conftest import web_server
from tests.e2e.test_graphiql_browser import chromium
from tests.e2e.test_subscriptions import Sessions, server_env, token
from tests.integration.streaming.support import FakeChain
from tests.integration.streaming.wsclient import EVENTS

pytestmark = pytest.mark.timeout(300)

feed_db = subscriptions.feed_db
redis = subscriptions.redis
ADMIN = Principal(kind=Kind.STAFF, role="admin", user_id=1)

SCRIPT = """
window.got = { eventSource: [], errors: [] };
const api = API + '/graphql';
function streamUrl(extra) {
  const url = new URL(api);
  url.searchParams.set('query', EVENTS);
  url.searchParams.set('variables', JSON.stringify({ after: '0' }));
  for (const [k, v] of Object.entries(extra)) url.searchParams.set(k, v);
  return url;
}
window.openTicketStream = async () => {
  const minted = await fetch(api, { method: 'POST', headers: {
    'content-type': 'application/json', authorization: 'Bearer ' + TOKEN },
    body: JSON.stringify({ query: 'mutation { streamTicket { ticket } }' }) });
  const ticket = (await minted.json()).data.streamTicket.ticket;
  const source = new EventSource(streamUrl({ ticket }));
  source.addEventListener('next', (event) => {
    window.got.eventSource.push(event.lastEventId);
    if (window.got.eventSource.length >= 2) source.close();
  });
  source.onerror = () => window.got.errors.push(source.readyState);
  await new Promise((resolve) => { source.onopen = resolve; });
  return source.readyState;
};
window.resumeWithFetch = async (lastEventId) => {
  const response = await fetch(streamUrl({}), { headers: {
    accept: 'text/event-stream', authorization: 'Bearer ' + TOKEN,
    'last-event-id': lastEventId } });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (!/\\nid: [0-9]+\\n/.test('\\n' + text)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value);
  }
  await reader.cancel();
  return { status: response.status, id: ('\\n' + text).match(/\\nid: ([0-9]+)\\n/)[1] };
};
"""


@contextmanager
def page_server(html: str) -> Iterator[str]:
    """A one-page site on its own port: the other origin."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_a_page_of_another_origin_streams_with_a_ticket_and_resumes_with_fetch(
    feed_db: tuple[str, Sessions], redis_url: str, redis: aioredis.Redis, tmp_path: Path
) -> None:
    url, sessions = feed_db
    chain = FakeChain(sessions)
    with (
        page_server("<!doctype html><title>app</title>") as origin,
        web_server(server_env(url, redis_url, CORS_ALLOWED_ORIGINS=origin)) as base,
        chromium(tmp_path / "profile") as page,
    ):
        page.call("Page.enable")
        page.call("Page.navigate", url=origin + "/")
        page.wait_for("document.readyState === 'complete'")
        page.evaluate(
            f"const API = {json.dumps(base)}, TOKEN = {json.dumps(token(ADMIN))},"
            f" EVENTS = {json.dumps(EVENTS)};" + SCRIPT + "; true"
        )
        assert page.evaluate("openTicketStream()") == 1  # OPEN
        await chain.emit(2, redis=redis)
        ids = page.wait_for("got.eventSource.length >= 2 && got.eventSource")
        errors = page.evaluate("got.errors")
        resumed = page.evaluate("resumeWithFetch('1')")
    assert ids == ["1", "2"]
    assert errors == []
    assert resumed == {"status": 200, "id": "2"}

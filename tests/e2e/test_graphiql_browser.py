"""GraphiQL in headless Chromium: the page loads in DEBUG and a typed query returns data.

The browser is driven over the Chrome DevTools Protocol. The page's scripts come from
unpkg; the test answers those requests from the same npm packages installed under
tests/e2e/graphiql (`make browser`), so it needs no network.
"""

from __future__ import annotations

import base64
import itertools
import json
import mimetypes
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import redis
from websockets.sync.client import ClientConnection, connect

from dpo.embedded.process import free_port
from tests.e2e.conftest import base_env, web_server

ASSETS = Path(__file__).resolve().parent / "graphiql" / "node_modules"
UNPKG = "https://unpkg.com/"
QUERY = "{ status { version environment } }"
TIMEOUT = 60.0


def asset_for(url: str) -> Path | None:
    """The local file of an unpkg URL such as https://unpkg.com/react@18.2.0/umd/x.js."""
    spec = url.removeprefix(UNPKG).split("?")[0]
    scoped = spec.startswith("@")
    parts = spec.split("/")
    package_at, rest = ("/".join(parts[:2]), parts[2:]) if scoped else (parts[0], parts[1:])
    package = package_at.rsplit("@", 1)[0] if package_at.count("@") > int(scoped) else package_at
    path = ASSETS / package / "/".join(rest)
    return path if path.is_file() else None


class Page:
    """One Chromium tab over CDP, answering unpkg requests from local files meanwhile."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.ids = itertools.count(1)
        self.missing: list[str] = []

    def send(self, method: str, **params: Any) -> int:
        message_id = next(self.ids)
        self.socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        return message_id

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a command and wait for its answer, serving paused requests meanwhile."""
        wanted = self.send(method, **params)
        while True:
            message = json.loads(self.socket.recv(timeout=TIMEOUT))
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if message.get("method") == "Fetch.requestPaused":
                self._serve(message["params"])

    def _serve(self, params: dict[str, Any]) -> None:
        url = params["request"]["url"]
        path = asset_for(url)
        if path is None:
            self.missing.append(url)
            self.send("Fetch.failRequest", requestId=params["requestId"], errorReason="Failed")
            return
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        self.send(
            "Fetch.fulfillRequest",
            requestId=params["requestId"],
            responseCode=200,
            responseHeaders=[
                {"name": "Content-Type", "value": kind},
                {"name": "Access-Control-Allow-Origin", "value": "*"},
            ],
            body=base64.b64encode(path.read_bytes()).decode(),
        )

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(str(result["exceptionDetails"]))
        return result["result"].get("value")

    def wait_for(self, expression: str) -> Any:
        deadline = time.monotonic() + TIMEOUT
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expression} never became true; missing: {self.missing}")
            time.sleep(0.2)


@contextmanager
def chromium(profile: Path) -> Iterator[Page]:
    """A headless Chromium with one tab under our control."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "Chromium is not installed: run `make browser`"
    assert ASSETS.is_dir(), "GraphiQL's packages are not installed: run `make browser`"
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--remote-allow-origins=*",
            f"--remote-debugging-port={port}",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
                page = next(t for t in targets if t["type"] == "page")
                break
            except (httpx.TransportError, StopIteration):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with connect(page["webSocketDebuggerUrl"], max_size=None) as socket:
            yield Page(socket)
    finally:
        process.terminate()
        process.wait(20)


def test_graphiql_runs_a_typed_query(migrated_url: str, redis_url: str, tmp_path: Path) -> None:
    # The worker's Redis database holds earlier tests' rate-limit and budget counters for
    # 127.0.0.1: emptied, so this server's first answers cannot be refused by their use.
    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()
    env = base_env(DATABASE_URL=migrated_url, REDIS_URL=redis_url, DEBUG="true")
    with web_server(env) as base, chromium(tmp_path / "profile") as page:
        page.call("Fetch.enable", patterns=[{"urlPattern": UNPKG + "*"}])
        page.call("Page.enable")
        page.call("Page.navigate", url=base + "/graphql")
        page.wait_for("!!document.querySelector('.graphiql-query-editor .CodeMirror')")
        page.evaluate(
            "(() => { const cm = document.querySelector("
            "'.graphiql-query-editor .CodeMirror').CodeMirror;"
            " cm.focus(); cm.execCommand('selectAll'); return true; })()"
        )
        page.call("Input.insertText", text=QUERY)
        typed = page.evaluate(
            "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.getValue()"
        )
        page.evaluate("document.querySelector('.graphiql-execute-button').click()")
        output = page.wait_for(
            "(() => { const cm = document.querySelector("
            "'.result-window .CodeMirror'); const v = cm &&"
            " cm.CodeMirror.getValue(); return v && v.includes('\"data\"')"
            " ? v : ''; })()"
        )
    assert typed == QUERY
    answer = json.loads(output)
    assert answer["data"] is not None, output
    data = answer["data"]["status"]
    assert data["version"]
    assert data["environment"] == "development"

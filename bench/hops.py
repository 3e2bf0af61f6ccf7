"""File-to-file hops of one HTTP GraphQL request, from uvicorn's ASGI call to the resolver.

Usage: .venv/bin/python bench/hops.py [--root PATH]   (DATABASE_URL and REDIS_URL, or the
                                                       embedded servers)

Serves the application (of the checkout at --root, default this one) with a real uvicorn in a
thread with a profile hook, and sends one `offerings(first: 20)` query with a bearer token
after a warm-up (response cache off, so the resolver runs). When the resolver is entered, the
Python stack from uvicorn's HTTP protocol down to it is mapped to files and consecutive frames
of one file collapsed: hops = files on that path - 1, counted over all files and over ours
(app/, dpo/, schema/, resolvers/); the return path is the same stack unwinding. It also counts
our files executed during the whole request. Run it on two checkouts to compare layouts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

OURS = ("app", "dpo", "schema", "resolvers")
QUERY = {
    "query": "query Offerings { offerings(first: 20) { totalCount edges { node { id name } } } }",
    "operationName": "Offerings",
}


class Trace:
    """The profile hook: files of ours executed, and the stack when the resolver is entered."""

    def __init__(self, root: Path) -> None:
        self.root = str(root) + os.sep
        self.on = False
        self.files: set[str] = set()
        self.path: list[str] | None = None

    def short(self, filename: str) -> str:
        if filename.startswith(self.root):
            return filename[len(self.root) :]
        return filename.split("site-packages/")[-1]

    def ours(self, name: str) -> bool:
        return name.split("/")[0] in OURS and not name.startswith(("/", "<"))

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if not self.on or event != "call":
            return
        name = self.short(frame.f_code.co_filename)
        if self.ours(name):
            self.files.add(name)
        if (
            self.path is None
            and name.startswith("resolvers/")
            and frame.f_code.co_name == "resolve_offerings"
        ):
            stack: list[str] = []
            current: FrameType | None = frame
            while current is not None:
                stack.append(self.short(current.f_code.co_filename))
                current = current.f_back
            stack.reverse()
            start = next(i for i, item in enumerate(stack) if "uvicorn/protocols/http" in item)
            self.path = stack[start:]


def collapse(items: list[str]) -> list[str]:
    """Consecutive frames of one file as one."""
    out: list[str] = []
    for item in items:
        if not out or out[-1] != item:
            out.append(item)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    root = parser.parse_args().root.resolve()
    sys.path.insert(0, str(root))
    os.environ.update(
        DJANGO_SECRET_KEY="bench-hops-" + "x" * 40, LOG_LEVEL="WARNING", RESPONSE_CACHE="false"
    )
    import httpx
    import uvicorn

    from app.web import create_app
    from dpo.auth.principal import Kind, Principal
    from dpo.auth.tokens import create_access_token
    from dpo.db.migrate import upgrade
    from dpo.embedded.stack import ensure_services
    from dpo.settings import Settings

    settings = Settings()
    services = ensure_services(settings)
    trace = Trace(root)
    try:
        upgrade(services.database_url)
        app = create_app(settings, database_url=services.database_url, redis_url=services.redis_url)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))

        def serve() -> None:
            sys.setprofile(trace)
            asyncio.run(server.serve())

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        admin = Principal(kind=Kind.STAFF, role="admin", user_id=1)
        token = create_access_token(admin, settings=settings).token
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            timeout=30,
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            client.post("/graphql", json=QUERY).raise_for_status()  # warm-up
            trace.on = True
            answer = client.post("/graphql", json=QUERY)
            time.sleep(0.3)  # the response's last steps
            trace.on = False
        answer.raise_for_status()
        if "errors" in answer.json():
            raise SystemExit(answer.text)
        server.should_exit = True
        thread.join(10)
    finally:
        services.stop()
    path = collapse(trace.path or [])
    ours = collapse([name for name in path if trace.ours(name)])
    print(f"path, all files: {len(path) - 1} hops over {len(set(path))} files")
    print(f"path, our files: {len(ours) - 1} hops over {len(set(ours))} files")
    print(f"our files executed during the request: {len(trace.files)}")
    print("our path: " + " -> ".join(ours))
    print(
        "RESULT "
        + json.dumps(
            {
                "bench": "hops",
                "root": str(root),
                "hops": len(path) - 1,
                "files": len(set(path)),
                "our_hops": len(ours) - 1,
                "our_files": len(set(ours)),
                "our_files_executed": sorted(trace.files),
            }
        )
    )


if __name__ == "__main__":
    main()

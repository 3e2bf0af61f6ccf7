"""SQL statements one request of each query costs, counted on the application's engine.

Run as its own process by bench/query.py, once per code under test: with PYTHONPATH set to an
earlier commit's checkout, `app`, `dpo`, `schema` and `resolvers` are that commit's, so
`--compare` counts the previous code's statements as well as ours. Reads one JSON document on
stdin (settings, URLs, headers, query names) and prints `{name: statements}` as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx
from query_queries import payload  # bench/ is the script's folder
from sqlalchemy import event


async def statements_per_request(job: dict[str, Any]) -> dict[str, int]:
    from app.web import create_app
    from dpo.settings import Settings

    settings = Settings(**job["settings"])
    app = create_app(settings, database_url=job["database_url"], redis_url=job["redis_url"])
    counts: dict[str, int] = {}
    async with app.router.lifespan_context(app):
        cache = getattr(app.state, "response_cache", None)
        if cache is not None:  # serves nothing until subscribed to the invalidations
            await asyncio.wait_for(cache.subscribed.wait(), 30)
        counter = {"n": 0}

        def count(*_: object) -> None:
            counter["n"] += 1

        event.listen(app.state.runtime.engine.sync_engine, "before_cursor_execute", count)
        transport = httpx.ASGITransport(app=app)
        headers = job["headers"]
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            for name in job["queries"]:
                await client.post("/graphql", json=payload(name), headers=headers)  # warm-up
                counter["n"] = 0
                response = await client.post("/graphql", json=payload(name), headers=headers)
                body = response.json()
                if response.status_code != 200 or body.get("errors"):
                    raise SystemExit(f"{name} failed: {response.status_code} {body}")
                counts[name] = counter["n"]
    return counts


if __name__ == "__main__":
    print(json.dumps(asyncio.run(statements_per_request(json.load(sys.stdin)))))

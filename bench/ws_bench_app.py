"""The real application plus one bench-only route that emits events in-process.

`POST /bench/emit?project=<id>&count=<n>&gap_ms=<ms>` emits n `diff_status` events to
the project's group through `sessions_app.events.emit`, each carrying the wall time
it was sent at. Only `bench/ws_fanout.py` serves this module; the app never does.
"""

import asyncio
import json
import time
from typing import Any
from urllib.parse import parse_qs

from sessions_app.events import emit
from vibegrapher.asgi import application as vibegrapher_app


async def _emit_events(project: str, count: int, gap: float) -> None:
    for n in range(count):
        event: Any = {"type": "diff_status", "diff_id": f"bench-{n}", "status": "bench"}
        event["sent_at"] = time.time()
        await emit(project, event)
        await asyncio.sleep(gap)


async def application(scope: dict, receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["path"] == "/bench/emit":
        query = parse_qs(scope["query_string"].decode())
        count = int(query["count"][0])
        gap = float(query.get("gap_ms", ["10"])[0]) / 1000
        await _emit_events(query["project"][0], count, gap)
        body = json.dumps({"emitted": count}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})
        return
    await vibegrapher_app(scope, receive, send)

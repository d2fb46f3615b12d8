"""Publish events through real :class:`~listenin.service.Outputs` to a real websocket client.

:func:`publish_to_a_client` subscribes a client, publishes ``events``, collects what
it receives up to ``call.ended``, closes the outputs (terminal first) and checks every
message against the event schema.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import jsonschema
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schema" / "events.schema.json").read_text())


def publish_to_a_client(outputs, events: list) -> list[dict]:  # type: ignore[no-untyped-def]
    """The messages the client got, schema-checked; ``outputs`` is started and closed here."""
    outputs.start()
    got: list[dict] = []

    async def client() -> None:
        assert outputs.server is not None
        async with connect(outputs.server.url) as ws:
            await ws.recv()  # hello
            await ws.send(json.dumps({"type": "subscribe"}))
            await ws.recv()  # subscribed
            for event in events:
                outputs.on_event(event)
            while not got or got[-1]["type"] != "call.ended":
                got.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))

    try:
        asyncio.run(client())
    finally:
        if outputs.renderer is not None:
            outputs.renderer.close()
        outputs.close()
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for message in got:
        validator.validate(message)
    return got

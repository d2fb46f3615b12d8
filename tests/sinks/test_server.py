"""The websocket server with real ``websockets`` clients on loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from sinks.hub import CLOSE_SLOW_CONSUMER, HubConfig
from sinks.protocol import RecordingControl
from sinks.server import EventServer, ServerConfig, ServerConfigError

TOKEN = "s3cret-token-0123456789"


@pytest.fixture
def server() -> Iterator[EventServer]:
    srv = EventServer(ServerConfig(port=0, token=TOKEN, stats_interval_s=0))
    srv.start()
    yield srv
    srv.stop()


def final(call: str, n: int, text: str = "hello", party: str = "agent") -> dict:
    return {"type": "transcript.final", "call_id": call, "party": party,
            "segment_id": f"{party}-{n}", "start": n, "end": n + 1, "text": text,
            "emitted_at": n + 1.5, "words": []}  # fmt: skip


def auth() -> dict:
    return {"additional_headers": {"Authorization": f"Bearer {TOKEN}"}}


async def recv_json(ws, timeout: float = 10) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def subscribed(ws, **request) -> dict:
    hello = await recv_json(ws)
    assert hello["type"] == "hello"
    await ws.send(json.dumps({"type": "subscribe", **request}))
    ack = await recv_json(ws)
    assert ack["type"] == "subscribed"
    return hello


def strict_json(text: str | bytes) -> dict:
    def refuse(name: str) -> None:
        raise ValueError(f"{name} in a server message")

    return json.loads(text, parse_constant=refuse)


def stalled_client(url: str):
    """A client that reads nothing until told to: a 4 kB kernel buffer, one message queued."""
    sock = socket.socket()  # a small receive buffer: no megabytes of kernel autotuning
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(urlsplit(url).port or 0)))
    sock.setblocking(False)
    return connect(url, sock=sock, max_queue=1, **auth())


async def eventually(predicate, timeout_s: float = 60) -> bool:
    """Wait (generously) until ``predicate()``; the test asserts the result, not the time."""
    for _ in range(int(timeout_s * 20)):
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


async def close_code(ws) -> int | None:
    """Read what is left, then the close frame's code."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 60)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


def test_refuses_a_token_shorter_than_16_characters():
    with pytest.raises(ServerConfigError, match="too short .1 characters.: use at least 16"):
        ServerConfig(token="x")
    ServerConfig(token="x" * 16)


def test_refuses_to_serve_beyond_loopback_without_a_token():
    with pytest.raises(ServerConfigError, match="without a token"):
        ServerConfig(host="0.0.0.0")
    ServerConfig(host="0.0.0.0", token="t" * 16)  # fine with one
    ServerConfig(host="::1")  # loopback needs none


def test_token_is_required_by_header_or_query(server):
    async def main():
        for kwargs in ({}, {"additional_headers": {"Authorization": "Bearer nope"}}):
            with pytest.raises(InvalidStatus) as err:
                async with connect(server.url, **kwargs):
                    pass
            assert err.value.response.status_code == 401
        async with connect(server.url, **auth()) as ws:
            assert (await recv_json(ws))["type"] == "hello"
        async with connect(server.url + "?token=" + TOKEN) as ws:
            assert (await recv_json(ws))["type"] == "hello"

    asyncio.run(main())
    assert server.stats.auth_failures == 2


def test_subscriber_gets_events_with_per_call_seq_and_filters(server):
    async def main():
        async with connect(server.url, **auth()) as everything, \
                connect(server.url, **auth()) as customer_b:  # fmt: skip
            await subscribed(everything)
            await subscribed(customer_b, calls=["b"], parties=["customer"])
            server.publish(final("a", 1))
            server.publish(final("b", 1, party="agent"))
            server.publish(final("b", 2, party="customer"))
            got = [await recv_json(everything) for _ in range(3)]
            assert [(e["call_id"], e["seq"]) for e in got] == [("a", 1), ("b", 1), ("b", 2)]
            only = await recv_json(customer_b)
            assert (only["call_id"], only["party"], only["seq"]) == ("b", "customer", 2)

    asyncio.run(main())


def test_garbage_gets_error_events_and_the_session_stays_healthy(server):
    async def main():
        async with connect(server.url, **auth()) as bad, connect(server.url, **auth()) as good:
            await subscribed(good)
            await recv_json(bad)  # hello
            for junk in ("{nope", "[]", '{"type": "explode"}', b"\x00binary"):
                await bad.send(junk)
                err = await recv_json(bad)
                assert err["type"] == "error" and err["code"]
            await bad.send(json.dumps({"type": "ping", "id": 9}))
            assert (await recv_json(bad))["id"] == 9  # still served
            await bad.send("x" * (server.config.max_message_bytes + 1))
            with pytest.raises(ConnectionClosed) as closed:
                await recv_json(bad)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
            server.publish(final("a", 1))
            assert (await recv_json(good))["seq"] == 1

    asyncio.run(main())
    assert server.stats.bad_messages == 4


def test_reconnect_with_last_seq_resumes_where_it_left_off(server):
    async def main():
        async with connect(server.url, **auth()) as ws:
            await subscribed(ws)
            for n in range(1, 4):
                server.publish(final("a", n, text=f"t{n}"))
            seen = [await recv_json(ws) for _ in range(2)]  # then the client drops
        last = seen[-1]["seq"]
        for n in range(4, 6):
            server.publish(final("a", n, text=f"t{n}"))
        async with connect(server.url, **auth()) as ws:
            hello = await subscribed(ws, resume={"a": last})
            assert hello["calls"] == {"a": 5}
            got = [await recv_json(ws) for _ in range(3)]
            assert [(e["seq"], e["text"]) for e in got] == [(3, "t3"), (4, "t4"), (5, "t5")]

    asyncio.run(main())


def test_a_client_that_never_reads_is_cut_off_and_delays_nobody():
    srv = EventServer(ServerConfig(port=0, token=TOKEN, stats_interval_s=0,
                                   close_timeout_s=30, hub=HubConfig(queue_events=64)))  # fmt: skip
    srv.start()
    text = base64.b64encode(random.randbytes(7500)).decode()  # 10 kB that deflate cannot shrink
    count = 640

    async def main():
        sock = socket.socket()  # a small receive buffer: no 32 MB kernel autotuning
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", srv.port))
        sock.setblocking(False)
        async with connect(srv.url, sock=sock, max_queue=1, **auth()) as sleepy, \
                connect(srv.url, max_size=None, **auth()) as good:  # fmt: skip
            await subscribed(sleepy)
            await subscribed(good)
            for first in range(0, count, 32):  # bursts the good client can absorb
                for n in range(first, first + 32):
                    srv.publish(final("a", n, text))
                for n in range(first, first + 32):
                    assert (await recv_json(good, 60))["seq"] == n + 1
            assert srv.stats.slow_disconnects == 1
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(sleepy.recv(), 60)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == CLOSE_SLOW_CONSUMER

    try:
        asyncio.run(main())
    finally:
        srv.stop()
    assert srv.hub.stats.overflowed == 1


def test_hundred_subscribers_each_get_every_event(server):
    async def main():
        clients = [await connect(server.url, **auth()) for _ in range(100)]
        try:
            for ws in clients:
                await subscribed(ws)
            for n in range(20):
                server.publish(final("a", n))
            for ws in clients:
                assert [(await recv_json(ws))["seq"] for _ in range(20)] == list(range(1, 21))
        finally:
            for ws in clients:
                await ws.close()

    asyncio.run(main())


def test_recording_control_is_published_as_an_event(server):
    def control(req: RecordingControl) -> dict:
        kind = "recording.paused" if req.pause else "recording.resumed"
        return {"type": kind, "call_id": req.call_id, "at": 1.0}

    server.on_control = control

    async def main():
        async with connect(server.url, **auth()) as ws:
            await subscribed(ws)
            await ws.send(json.dumps({"type": "recording.pause", "call_id": "a"}))
            ev = await recv_json(ws)
            assert (ev["type"], ev["call_id"], ev["seq"]) == ("recording.paused", "a", 1)

    asyncio.run(main())


def test_static_console_files_are_served_without_a_token(server):
    import urllib.request

    base = f"http://127.0.0.1:{server.port}"
    page = urllib.request.urlopen(base + "/").read().decode()
    assert "/static/app.js" in page
    js = urllib.request.urlopen(base + "/static/app.js")
    assert js.headers["Content-Type"].startswith("text/javascript")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(base + "/../etc/passwd")
    assert err.value.code == 404


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_tls_when_a_certificate_is_configured(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    srv = EventServer(ServerConfig(port=0, token=TOKEN, tls_cert=str(cert), tls_key=str(key)))
    srv.start()
    try:
        assert srv.url.startswith("wss://")
        ctx = ssl.create_default_context(cafile=str(cert))

        async def main():
            async with connect(srv.url, ssl=ctx, **auth()) as ws:
                await subscribed(ws)
                srv.publish(final("a", 1))
                assert (await recv_json(ws))["seq"] == 1

        asyncio.run(main())
    finally:
        srv.stop()


def test_a_client_that_never_reads_is_closed_with_4008_by_the_byte_bound():
    # queue_events stays 1024: only the byte bound (queue, socket buffer, kernel) can trip
    srv = EventServer(ServerConfig(port=0, token=TOKEN, stats_interval_s=0, close_timeout_s=30,
                                   hub=HubConfig(queue_bytes=64 * 1024)))  # fmt: skip
    srv.start()
    text = "x" * 2000

    async def main() -> int:
        async with stalled_client(srv.url) as sleepy:
            await subscribed(sleepy)
            n = 0
            while srv.stats.slow_disconnects == 0 and n < 5000:
                srv.publish(final("a", n, text))
                n += 1
                if n % 20 == 0:
                    await asyncio.sleep(0.01)  # the server's loop catches up
            assert await eventually(lambda: srv.stats.slow_disconnects == 1)
            assert await close_code(sleepy) == CLOSE_SLOW_CONSUMER
            return n

    try:
        published = asyncio.run(main())
    finally:
        srv.stop()
    # 64 KiB queued + 64 KiB in asyncio's buffer + the kernel's fixed send buffer: far
    # fewer than 1,024 events of 2 kB (an autotuned kernel buffer alone takes ~4 MB)
    assert published < 1024, published


def test_replay_requests_that_are_never_read_get_4008(caplog):
    srv = EventServer(ServerConfig(port=0, token=TOKEN, stats_interval_s=0, close_timeout_s=30))
    srv.start()
    for n in range(200):  # ~220 kB per replay: within one request's allowance (512 KiB)
        srv.publish(final("a", n, "x" * 1000))

    async def main() -> int:
        async with stalled_client(srv.url) as sleepy:
            assert (await recv_json(sleepy))["calls"] == {"a": 200}
            requests = 0
            while srv.stats.slow_disconnects == 0 and requests < 200:
                await sleepy.send(json.dumps({"type": "subscribe", "replay": True}))
                requests += 1
                await eventually(lambda: srv.stats.slow_disconnects > 0, 0.1)
            assert await eventually(lambda: srv.stats.slow_disconnects == 1)
            assert await close_code(sleepy) == CLOSE_SLOW_CONSUMER
            return requests

    try:
        requests = asyncio.run(main())
    finally:
        srv.stop()
    assert requests < 20, requests  # 1 MiB of queue: a handful of unread replays
    assert srv.hub.stats.overflowed == 1
    assert not [r for r in caplog.records if r.exc_info]


def test_deep_json_and_nan_get_error_events_without_tracebacks(server, caplog):
    caplog.set_level(logging.DEBUG)

    async def main():
        async with connect(server.url, **auth()) as ws:
            await recv_json(ws)  # hello
            for junk in ("[" * 30000 + "]" * 30000, '{"type": "ping", "id": NaN}',
                         '{"type": "ping", "id": {"x": 1e999}}'):  # fmt: skip
                await ws.send(junk)
                err = strict_json(await asyncio.wait_for(ws.recv(), 10))
                assert err["type"] == "error" and err["code"] in ("too_deep", "bad_json")
            await ws.send('{"type": "ping", "id": [1.5, "x", null]}')
            pong = strict_json(await asyncio.wait_for(ws.recv(), 10))
            assert (pong["type"], pong["id"]) == ("pong", [1.5, "x", None])

    asyncio.run(main())
    assert server.stats.bad_messages == 3
    assert not [r for r in caplog.records if r.exc_info]
    lines = [r for r in caplog.records if "bad message" in r.getMessage()]
    assert [r.levelno for r in lines] == [logging.INFO, logging.DEBUG, logging.DEBUG]
    assert all("\n" not in r.getMessage() for r in lines)


def test_a_client_that_reads_nothing_is_closed_with_4008_when_it_misses_a_pong():
    # however little it is sent: the ping waits behind what it has not read
    srv = EventServer(ServerConfig(port=0, token=TOKEN, stats_interval_s=0, close_timeout_s=30,
                                   ping_interval_s=0.2, ping_timeout_s=2))  # fmt: skip
    srv.start()

    async def main():
        async with stalled_client(srv.url) as sleepy, connect(srv.url, **auth()) as good:
            await subscribed(sleepy)
            await subscribed(good)
            for n in range(3):  # past its one-message queue: the client stops reading
                srv.publish(final("a", n))
            assert [(await recv_json(good))["seq"] for _ in range(3)] == [1, 2, 3]
            assert await eventually(lambda: srv.stats.slow_disconnects == 1)
            assert await close_code(sleepy) == CLOSE_SLOW_CONSUMER
            srv.publish(final("a", 4))
            assert (await recv_json(good))["seq"] == 4  # it answers pings: still served
        assert srv.stats.slow_disconnects == 1

    try:
        asyncio.run(main())
    finally:
        srv.stop()
    assert srv.hub.stats.overflowed == 1


def test_a_resyncing_client_gets_the_calls_alerts_with_its_finals():
    srv = EventServer(ServerConfig(port=0, token=TOKEN, stats_interval_s=0,
                                   hub=HubConfig(replay_events=2)))  # fmt: skip
    srv.start()
    alert = {"type": "alert", "call_id": "a", "party": "customer", "rule": "cancel",
             "segment_id": "customer-2", "text": "cancel it", "matched": "cancel",
             "start": 2.0, "end": 2.4, "emitted_at": 3.5}  # fmt: skip

    async def main():
        async with connect(srv.url, **auth()) as ws:
            await subscribed(ws)
            srv.publish(final("a", 1))
            first = await recv_json(ws)  # then the client drops
        srv.publish(final("a", 2, text="cancel it", party="customer"))
        srv.publish(alert)
        for n in range(3, 5):
            srv.publish(final("a", n))
        async with connect(srv.url, **auth()) as ws:
            await subscribed(ws, resume={"a": first["seq"]})
            resync = strict_json(await asyncio.wait_for(ws.recv(), 10))
        return resync

    try:
        resync = asyncio.run(main())
    finally:
        srv.stop()
    assert resync["type"] == "resync" and resync["seq"] == 5 and resync["after_seq"] == 1
    assert [f["text"] for f in resync["finals"]] == ["hello", "cancel it", "hello", "hello"]
    assert resync["alerts"] == [{**alert, "seq": 3}]
    import jsonschema

    from tests.listenin.subscribed import SCHEMA

    jsonschema.Draft202012Validator(SCHEMA).validate(resync)

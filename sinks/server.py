"""The websocket endpoint (and the web console's static files) on its own thread.

:class:`EventServer` runs a ``websockets`` server in an asyncio loop on a
dedicated thread.  Producers on any thread call :meth:`EventServer.publish`,
which only schedules the event onto the loop (never blocks, never waits on a
client); there the :class:`~sinks.hub.Hub` stamps it with its per-call ``seq``
and queues it for each matching subscriber, and one writer task per client
moves its queue to the socket.  A client whose queue overflows (in messages or
in bytes, counting what its socket still holds: at most :data:`SOCKET_BUFFER_BYTES`
in asyncio's write buffer and as much again in the kernel's) is closed with
:data:`~sinks.hub.CLOSE_SLOW_CONSUMER` (4008); so is one whose replay requests
overflow it.  Client messages that are not valid requests (bad or deeply nested
JSON, ``NaN``) get an ``error`` event and are counted; the connection stays
open.  Everything sent is strict JSON.

A gateway's server serves messages a node stamped, read from the bus
(:meth:`EventServer.deliver`); a node's tells its bus publisher each message its
hub stamps (``on_stamped``).

Endpoints: ``/ws`` (websocket; bearer token in an ``Authorization: Bearer``
header or, for browsers, a ``token`` query parameter) and ``/`` plus
``/static/...`` (the console, no secrets in it, served without a token), plus
the plain HTTP ``routes`` the owner gives (``/healthz``, ``/readyz``, ``/metrics``:
:mod:`listenin.observe`), answered without a token by calling the route's
function on the server's loop.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .deepgram import DeepgramView, parse_format
from .hub import CLOSE_SLOW_CONSUMER, Hub, Outgoing, Publishable, Subscriber
from .protocol import Ping, RecordingControl, RequestError, Subscribe, Unsubscribe, parse_request
from .server_config import ServerConfig, ServerConfigError
from .stats import CallStatsBook

log = logging.getLogger(__name__)

WS_PATH = "/ws"
# asyncio's write buffer per client before a send waits (websockets' write_limit), and
# the kernel's send buffer (fixed, so it does not grow to megabytes for a stalled client)
SOCKET_BUFFER_BYTES = 64 * 1024
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}


@dataclass(slots=True)
class ServerStats:
    connections: int = 0
    auth_failures: int = 0
    bad_messages: int = 0
    slow_disconnects: int = 0
    unserialisable: int = 0  # events or replies that were not strict JSON (dropped)


# a recording request: the event to publish, or None when it is applied elsewhere
# (a gateway passes it on to the node that holds the call)
ControlHandler = Callable[[RecordingControl], Publishable | None]
# a plain HTTP endpoint: () -> (status, content type, body); called on the loop, keep it short
Route = Callable[[], tuple[int, str, bytes]]


class EventServer:
    def __init__(
        self,
        config: ServerConfig,
        stats_book: CallStatsBook | None = None,
        on_control: ControlHandler | None = None,
        on_stamped: Callable[[Outgoing], None] | None = None,
        routes: dict[str, Route] | None = None,
    ) -> None:
        self.config = config
        self.routes = routes or {}
        self.deepgram = DeepgramView()  # party order and rendering for format=deepgram
        self._on_stamped = on_stamped
        self.hub = Hub(config.hub, self._stamped)
        self.stats = ServerStats()
        self.stats_book = stats_book
        self.on_control = on_control
        self.recording = on_control is not None  # pause/resume can reach an archive (hello)
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._wake: dict[int, asyncio.Event] = {}
        self._conns: dict[int, ServerConnection] = {}
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ws-server", daemon=True)

    @property
    def url(self) -> str:
        return f"{self.config.scheme}://{self.config.host}:{self.port}{WS_PATH}"

    @property
    def console_url(self) -> str:
        http = "https" if self.config.tls_cert else "http"
        return f"{http}://{self.config.host}:{self.port}/"

    # -- lifecycle (any thread) ---------------------------------------------
    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise ServerConfigError(f"websocket server failed to start: {self._error}") from (
                self._error
            )

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._shutdown)
        self._thread.join(10)

    def publish(self, event: Publishable) -> None:
        """Queue a pipeline event (or a ``dict`` with ``type``/``call_id``); never blocks.

        A record's JSON text is made here, on the caller's thread, if no other
        sink has made it yet (:meth:`records.events.Serialisable.to_json`).
        """
        if not isinstance(event, dict):
            event.to_json()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._publish, event)
            except RuntimeError:  # loop closed between the check and the call
                pass

    def deliver(self, msg: Outgoing) -> None:
        """Queue a message already stamped with its ``seq`` (a gateway's, from the bus)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._deliver, msg)
            except RuntimeError:  # loop closed between the check and the call
                pass

    # -- loop thread ----------------------------------------------------------
    def _stamped(self, msg: Outgoing) -> None:
        self.deepgram.observe(msg.call_id, msg.type, msg.party)
        if self._on_stamped is not None:
            self._on_stamped(msg)

    def _deliver(self, msg: Outgoing) -> None:
        self.deepgram.observe(msg.call_id, msg.type, msg.party)
        self._wake_after(self.hub.deliver(msg))

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as err:  # reported to start()
            self._error = err
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        tls = None
        if self.config.tls_cert:
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.load_cert_chain(self.config.tls_cert, self.config.tls_key)
        async with serve(
            self._handler,
            self.config.host,
            self.config.port,
            ssl=tls,
            process_request=self._process_request,
            max_size=self.config.max_message_bytes,
            close_timeout=self.config.close_timeout_s,
            ping_interval=None,  # our own keepalive: a missing pong is a slow consumer
            write_limit=SOCKET_BUFFER_BYTES,
            compression="deflate" if self.config.compression else None,
        ) as server:
            self._server = server
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            log.info("websocket server on %s (console %s)", self.url, self.console_url)
            ticker = asyncio.create_task(self._stats_ticker())
            await self._stopped.wait()
            ticker.cancel()
            for ws in list(self._conns.values()):
                await ws.close(1001, "server shutting down")

    def _shutdown(self) -> None:
        self._stopped.set()

    def _publish(self, event: Publishable) -> None:
        try:
            overflowed = self.hub.publish(event)
        except ValueError as err:  # NaN or infinity in a dict event: not strict JSON
            self.stats.unserialisable += 1
            log.error("event not published (not strict JSON): %s", err)
            return
        self._wake_after(overflowed)

    def _wake_after(self, overflowed: list[Subscriber]) -> None:
        for sub in overflowed:
            self._overflow(sub)
        for sub in list(self.hub.subscribers.values()):
            if sub.queue:
                self._wake[sub.id].set()

    def _overflow(self, sub: Subscriber, why: str = "queue overflow") -> None:
        if sub.id not in self.hub.subscribers:
            return  # already closed
        sub.overflowed = True
        self.stats.slow_disconnects += 1
        ws = self._conns.get(sub.id)
        log.warning(
            "subscriber %s too slow (%s; %d messages, %d bytes pending): closing with %s",
            sub.id, why, len(sub.queue), sub.pending_bytes, CLOSE_SLOW_CONSUMER,
        )  # fmt: skip
        self.hub.disconnect(sub)
        if ws is not None:
            asyncio.ensure_future(ws.close(CLOSE_SLOW_CONSUMER, f"slow consumer: {why}"))

    async def _stats_ticker(self) -> None:
        if not self.stats_book or self.config.stats_interval_s <= 0:
            return
        while True:
            await asyncio.sleep(self.config.stats_interval_s)
            for call_id in self.stats_book.calls():
                snap = self.stats_book.snapshot(call_id)
                if snap is not None:
                    self._publish(snap)

    # -- HTTP side: static files and the token check --------------------------
    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if url.path in STATIC:
            name, ctype = STATIC[url.path]
            body = resources.files("sinks.web").joinpath(name).read_bytes()
            headers = Headers(
                [("Content-Type", ctype), ("Content-Length", str(len(body))),
                 ("Cache-Control", "no-cache")]
            )  # fmt: skip
            return Response(200, "OK", headers, body)
        if url.path in self.routes:
            return _answer(*self.routes[url.path]())
        if url.path != WS_PATH:
            return conn.respond(404, "not found\n")
        if self.config.token and not self._authorised(request, url.query):
            self.stats.auth_failures += 1
            log.warning("websocket client %s refused: missing or wrong token", conn.remote_address)
            return conn.respond(401, "missing or wrong bearer token\n")
        return None

    def _authorised(self, request: Request, query: str) -> bool:
        token = self.config.token or ""
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip(), token):
            return True
        given = parse_qs(query).get("token", [""])[0]
        return bool(given) and hmac.compare_digest(given, token)

    # -- one websocket client ---------------------------------------------------
    async def _handler(self, ws: ServerConnection) -> None:
        sub = self.hub.connect()
        sub.format = parse_format(parse_qs(urlsplit(ws.request.path).query).get("format", [""])[0]
                                  if ws.request else "") or "listenin"  # fmt: skip
        sub.unsent = ws.transport.get_write_buffer_size
        sock = ws.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER_BYTES)
        wake = self._wake[sub.id] = asyncio.Event()
        self._conns[sub.id] = ws
        self.stats.connections += 1
        calls = {c: self.hub.last_seq(c) for c in self.hub.active_calls()}
        hello = {"type": "hello", "server": "listenin", "calls": calls}
        self._reply(sub, {**hello, "recording": self.recording})
        writer = asyncio.create_task(self._writer(ws, sub, wake))
        pinger = asyncio.create_task(self._keepalive(ws, sub))
        try:
            async for raw in ws:
                self._on_message(sub, raw)
        except ConnectionClosed:
            pass
        finally:
            writer.cancel()
            pinger.cancel()
            self.hub.disconnect(sub)
            self._wake.pop(sub.id, None)
            self._conns.pop(sub.id, None)

    def _reply(self, sub: Subscriber, body: dict[str, Any]) -> None:
        try:
            msg = Outgoing.reply(body)
        except ValueError as err:  # not strict JSON: say so instead
            self.stats.unserialisable += 1
            log.info("subscriber %s: %s reply not sent (not strict JSON): %s",
                     sub.id, body.get("type"), err)  # fmt: skip
            msg = Outgoing.reply(RequestError("internal", "the reply was not JSON").to_dict())
        if sub.offer(msg):
            self._wake[sub.id].set()
        else:
            self._overflow(sub)

    def _on_message(self, sub: Subscriber, raw: str | bytes) -> None:
        if sub.overflowed:
            return  # being closed: nothing more is queued for it
        try:
            req = parse_request(raw)
            if isinstance(req, Subscribe):
                f = req.filter
                self._reply(sub, {
                    "type": "subscribed",
                    "calls": sorted(f.calls) if f.calls is not None else "*",
                    "parties": sorted(f.parties) if f.parties is not None else "*",
                })  # fmt: skip
                sub.format = req.format or sub.format
                if not self.hub.subscribe(sub, req.filter, req.resume, req.replay):
                    self._overflow(sub)
            elif isinstance(req, Unsubscribe):
                sub.filter = None
                self._reply(sub, {"type": "unsubscribed"})
            elif isinstance(req, Ping):
                self._reply(sub, {"type": "pong", "id": req.id, "time": time.time()})
            elif isinstance(req, RecordingControl):
                if self.on_control is None:
                    raise RequestError("unsupported", "this server records nothing")
                done = self.on_control(req)
                if done is not None:
                    self._publish(done)
        except RequestError as err:
            self.stats.bad_messages += 1
            level = logging.INFO if sub.bad_messages == 0 else logging.DEBUG  # one line, once
            sub.bad_messages += 1
            log.log(level, "subscriber %s: bad message (%s): %s", sub.id, err.code, err.message)
            self._reply(sub, err.to_dict())
        except Exception:
            log.exception("subscriber %s: request failed", sub.id)
            self._reply(sub, RequestError("internal", "the request failed").to_dict())

    async def _writer(self, ws: ServerConnection, sub: Subscriber, wake: asyncio.Event) -> None:
        try:
            while True:
                await wake.wait()
                wake.clear()
                while (msg := sub.take()) is not None:
                    if sub.format == "listenin":
                        await ws.send(msg.data, text=True)
                        continue
                    for data in self.deepgram.render(msg.call_id, msg.seq, msg.origin, msg.data):
                        await ws.send(data, text=True)
        except ConnectionClosed:
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("subscriber %s: writer failed", sub.id)

    async def _keepalive(self, ws: ServerConnection, sub: Subscriber) -> None:
        """Ping every ``ping_interval_s``; no pong within ``ping_timeout_s``: close with 4008.

        The ping waits behind whatever the socket still holds, so a client that
        reads nothing never answers it, however little it was sent.
        """
        try:
            while True:
                await asyncio.sleep(self.config.ping_interval_s)
                try:
                    async with asyncio.timeout(self.config.ping_timeout_s):
                        await (await ws.ping())
                except TimeoutError:
                    self._overflow(sub, f"no pong within {self.config.ping_timeout_s:g} s")
                    return
        except ConnectionClosed:
            pass


def _answer(status: int, ctype: str, body: bytes) -> Response:
    headers = Headers([("Content-Type", ctype), ("Content-Length", str(len(body))),
                       ("Cache-Control", "no-cache")])  # fmt: skip
    return Response(status, HTTPStatus(status).phrase, headers, body)

"""The RTP relay: public RTP/RTCP sockets in front of PJMEDIA's loopback ones.

Each relayed stream has a public RTP socket (on a port from
:class:`~softphone.rtpports.RtpPorts`) and the RTCP socket above it.  One
thread reads them all; every RTP datagram goes through the stream's
:class:`~softphone.rtpgate.RtpGate` and only what it passes is sent on, from a
connected loopback socket, to PJMEDIA's RTP port.  RTCP passes when it is RTCP
(version 2, packet type 200-207) from the host the RTP lock holds.

Fairness: a turn of the loop reads at most ``BATCH`` datagrams from each ready
socket, so a flooded stream costs CPU but never delays the others; what a
flood adds beyond what one core reads, the kernel drops at the flooded socket
(policy ``drop_at_socket``).  Streams are opened on the caller's thread (the
port is needed at once for the SDP answer) and handed to the relay thread,
which owns the table, the selector and every socket from then on.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .config import DeviceConfig
from .rtpgate import GateCounters, GatePolicy, RtpGate, Verdict
from .rtpports import RtpPorts

log = logging.getLogger(__name__)

BATCH = 32  # datagrams read per ready socket per turn
RCVBUF_BYTES = 1 << 20  # absorbs bursts while the thread serves other sockets
_BIND_TRIES = 64
_LOOPBACK = "127.0.0.1"


class RelayError(RuntimeError):
    """No public RTP port pair could be bound."""


@dataclass(frozen=True, slots=True)
class RelayStream:
    """What a relayed stream looks like from outside (a snapshot)."""

    handle: int
    leg: str
    media_index: int
    label: str
    port: int  # the advertised (public) RTP port; RTCP is port + 1
    target: int  # PJMEDIA's loopback RTP port
    counters: GateCounters
    rtcp_forwarded: int
    rtcp_dropped: int

    @property
    def source(self) -> tuple[str, int] | None:
        """The (host, port) the stream is locked to, once it is."""
        lock = self.counters.locked
        return (lock[0], lock[1]) if lock else None


@dataclass(eq=False)
class _Stream:
    handle: int
    leg: str
    media_index: int
    label: str
    port: int  # public RTP port
    rtp: socket.socket
    rtcp: socket.socket
    inner_rtp: socket.socket
    inner_rtcp: socket.socket
    target: int
    gate: RtpGate
    rtcp_forwarded: int = 0
    rtcp_dropped: int = 0
    sockets: tuple[socket.socket, ...] = field(default=())

    def snapshot(self) -> RelayStream:
        return RelayStream(self.handle, self.leg, self.media_index, self.label,
                           self.port, self.target, self.gate.counters(),
                           self.rtcp_forwarded, self.rtcp_dropped)  # fmt: skip

    def close(self) -> None:
        for s in self.sockets:
            s.close()


def _udp(host: str, port: int, rcvbuf: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.bind((host, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class RtpRelay:
    """Start with :meth:`start`; :meth:`open` / :meth:`close` streams; :meth:`stop`."""

    def __init__(self, host: str, ports: RtpPorts, learn_packets: int = 2,
                 relearn_silence_ms: int = 1000, relearn_packets: int = 10) -> None:  # fmt: skip
        self.host = host
        self.ports = ports
        self._policy = (learn_packets, relearn_silence_ms, relearn_packets)
        self._opened: queue.SimpleQueue[_Stream] = queue.SimpleQueue()  # not yet handed over
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._streams: dict[int, _Stream] = {}  # relay thread's: handle -> stream
        self._handles = iter(range(1, 1 << 62))
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sel = selectors.DefaultSelector()  # the relay thread's, once started

    # -- any thread ----------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rtp-relay", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """End the thread and close every socket (streams not yet closed included)."""
        if self._thread is not None:
            self._stop.set()
            self._wake()
            self._thread.join(timeout_s)
            self._thread = None
        self._sel.close()
        for stream in self._streams.values():
            stream.close()
        self._streams.clear()
        while True:  # streams opened but never handed over
            try:
                self._opened.get_nowait().close()
            except queue.Empty:
                break
        self._wake_r.close()
        self._wake_w.close()

    def open(self, leg: str, media_index: int, label: str, target_rtp: int, target_rtcp: int,
             payload_types: frozenset[int],
             expected_source: tuple[str, int] | None = None) -> tuple[int, int]:  # fmt: skip
        """Bind a public port pair for one stream; returns (handle, public RTP port).
        ``expected_source``: where the offer says the party sends from (see the gate)."""
        rtp, rtcp = self._bind_pair()
        socks = [rtp, rtcp]
        try:
            inner_rtp = _udp(_LOOPBACK, 0)
            socks.append(inner_rtp)
            inner_rtcp = _udp(_LOOPBACK, 0)
            socks.append(inner_rtcp)
            inner_rtp.connect((_LOOPBACK, target_rtp))
            inner_rtcp.connect((_LOOPBACK, target_rtcp))
        except OSError:
            for s in socks:
                s.close()
            raise
        learn, silence, relearn = self._policy
        gate = RtpGate(GatePolicy(payload_types, learn, silence, relearn, expected_source))
        handle = next(self._handles)
        port = int(rtp.getsockname()[1])
        stream = _Stream(handle, leg, media_index, label, port, rtp, rtcp, inner_rtp, inner_rtcp,
                         target_rtp, gate, sockets=tuple(socks))  # fmt: skip
        self._opened.put(stream)
        self._wake()
        log.info("leg %s stream %d (%s): RTP gate on %s:%d -> loopback %d", leg, media_index,
                 label, self.host, port, target_rtp)  # fmt: skip
        return handle, port

    def close(self, handle: int) -> None:
        self._submit(lambda: self._remove(handle))

    def narrow(self, handle: int, payload_types: frozenset[int]) -> None:
        """Accept only these payload types from now on (what negotiation settled on)."""

        def apply() -> None:
            stream = self._streams.get(handle)
            if stream is not None:
                stream.gate.set_payload_types(payload_types)

        self._submit(apply)

    def streams(self) -> list[RelayStream]:
        """Snapshots of the open streams (counters read without a lock: ints, GIL)."""
        return [s.snapshot() for s in list(self._streams.values())]

    def _bind_pair(self) -> tuple[socket.socket, socket.socket]:
        last: OSError | None = None
        for port in self.ports.candidates(_BIND_TRIES):
            try:
                rtp = _udp(self.host, port, RCVBUF_BYTES)
            except OSError as err:
                last = err
                continue
            try:
                rtcp = _udp(self.host, rtp.getsockname()[1] + 1)
            except OSError as err:
                rtp.close()
                last = err
                continue
            return rtp, rtcp
        raise RelayError(f"no free RTP port pair on {self.host}: {last}")

    def _submit(self, fn: Callable[[], None]) -> None:
        self._commands.put(fn)
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already awake (buffer full) or stopping

    # -- the relay thread ----------------------------------------------------------
    def _add(self, stream: _Stream) -> None:
        self._streams[stream.handle] = stream
        self._sel.register(stream.rtp, selectors.EVENT_READ, (self._pump_rtp, stream))
        self._sel.register(stream.rtcp, selectors.EVENT_READ, (self._pump_rtcp, stream))

    def _remove(self, handle: int) -> None:
        stream = self._streams.pop(handle, None)
        if stream is None:
            return
        for s in (stream.rtp, stream.rtcp):
            self._sel.unregister(s)
        c = stream.gate.counters()
        log.info("leg %s stream %d (%s): RTP gate closed, forwarded %d, dropped %d "
                 "(malformed %d, wrong pt %d, foreign %d), relearned %d", stream.leg,
                 stream.media_index, stream.label, c.forwarded, c.dropped, c.malformed,
                 c.wrong_pt, c.foreign, c.relearned)  # fmt: skip
        stream.close()

    def _run(self) -> None:
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        try:
            while not self._stop.is_set():
                events = self._sel.select(0.5)
                now_ms = time.monotonic_ns() // 1_000_000
                for key, _ in events:
                    if key.data is None:
                        self._commands_due()
                        continue
                    pump, stream = key.data
                    if stream.handle in self._streams:  # not removed earlier this turn
                        pump(stream, now_ms)
        except Exception:
            log.exception("RTP relay failed; media of new and open calls stops")

    def _commands_due(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass
        while True:  # first every opened stream: a later command may be about it
            try:
                stream = self._opened.get_nowait()
            except queue.Empty:
                break
            try:
                self._add(stream)
            except (OSError, ValueError, KeyError):
                log.exception("leg %s stream %d: RTP relay could not watch its sockets",
                              stream.leg, stream.media_index)  # fmt: skip
                self._streams.pop(stream.handle, None)
                for sock in (stream.rtp, stream.rtcp):
                    with contextlib.suppress(KeyError, ValueError):
                        self._sel.unregister(sock)
                stream.close()
        while True:
            try:
                fn = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                fn()
            except Exception:
                log.exception("RTP relay command failed")

    def _pump_rtp(self, stream: _Stream, now_ms: int) -> None:
        recv = stream.rtp.recvfrom
        push = stream.gate.push
        send = stream.inner_rtp.send
        for _ in range(BATCH):
            try:
                data, source = recv(2048)
            except BlockingIOError:
                return
            except OSError as err:  # never ends the relay: this turn of the socket ends
                log.debug("leg %s stream %d: receive failed: %s", stream.leg,
                          stream.media_index, err)  # fmt: skip
                return
            verdict = push(data, source, now_ms)
            try:
                if verdict is Verdict.FORWARD:
                    send(data)
                elif verdict is Verdict.FORWARD_HELD:
                    send(stream.gate.take_held())
                    send(data)
            except OSError:  # PJMEDIA's socket gone (call ending): drop
                pass

    def _pump_rtcp(self, stream: _Stream, now_ms: int) -> None:
        lock = stream.gate.counters().locked
        for _ in range(BATCH):
            try:
                data, source = stream.rtcp.recvfrom(2048)
            except BlockingIOError:
                return
            except OSError:
                continue
            ok = (
                lock is not None
                and source[0] == lock[0]
                and len(data) >= 8
                and data[0] >> 6 == 2
                and 200 <= data[1] <= 207
            )
            if not ok:
                stream.rtcp_dropped += 1
                continue
            stream.rtcp_forwarded += 1
            try:
                stream.inner_rtcp.send(data)
            except OSError:
                pass


def relay_for(cfg: DeviceConfig) -> RtpRelay | None:
    """The device's relay (started), or None when the gate is off."""
    gate, t = cfg.media.rtp_gate, cfg.transport
    if not gate.enabled:
        return None
    relay = RtpRelay(t.media_address, RtpPorts(t.rtp_port, t.rtp_port_min, t.rtp_port_max),
                     gate.learn_packets, gate.relearn_silence_ms, gate.relearn_packets)  # fmt: skip
    relay.start()
    return relay

"""Frozen configuration for the supervisor device, one dataclass per concern.

Units live in the field names.  Values are checked in ``__post_init__`` so a bad
config file fails at load time with a clear message, not mid-call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .addresses import check_trusted, split_source
from .identify import HeaderNames

WHEEL_MAX_CALLS = 4  # PJSUA_MAX_CALLS compiled into the pjsua2-python wheel
MAX_STREAMS = 8  # audio streams per INVITE; PJMEDIA crashes on ~20 (measured)
CODECS = ("PCMU", "PCMA", "G722")
SRTP_MODES = ("off", "optional", "mandatory")


class ConfigError(ValueError):
    """A device setting that cannot work."""


def _uri_has_host(uri: str) -> bool:
    """``sip:[user@]host[:port][;params]`` with a non-empty host."""
    scheme, sep, rest = uri.partition(":")
    host = rest.split("@", 1)[-1].split(";", 1)[0]
    return bool(sep) and scheme in ("sip", "sips") and host not in ("", ":") and host[0] != ":"


@dataclass(frozen=True, slots=True)
class JitterConfig:
    """PJMEDIA's adaptive jitter buffer, tuned for listening, not talking.

    A supervisor can afford 100-200 ms of delay; the talk-tuned defaults keep
    the buffer short and discard audio under 40 +- 20 ms of jitter.
    """

    init_ms: int = 160  # prefetch before playout starts
    min_pre_ms: int = 120  # never shrink the prefetch below this
    max_pre_ms: int = 300
    max_ms: int = 1000  # buffer capacity

    def __post_init__(self) -> None:
        if not 0 < self.min_pre_ms <= self.init_ms <= self.max_pre_ms < self.max_ms:
            raise ConfigError(
                "jitter buffer needs 0 < min_pre_ms <= init_ms <= max_pre_ms < max_ms, got "
                f"{self.min_pre_ms}/{self.init_ms}/{self.max_pre_ms}/{self.max_ms}"
            )


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """Registration of the supervisor device with the platform's registrar."""

    user: str
    domain: str
    password: str = field(default="", repr=False)
    registrar: str | None = None  # e.g. "sip:127.0.0.1:5060"; None: do not register
    proxy: str | None = None  # outbound proxy URI
    auth_user: str | None = None  # when it differs from user
    register_expires_s: int = 300
    retry_interval_s: int = 10  # re-register after failure (registrar restart, outage)
    keepalive_s: int = 15  # UDP keepalive to the registrar (keeps NAT bindings open); 0: off
    contact: str | None = None  # Contact to advertise instead of the transport's (a SIP front)

    def __post_init__(self) -> None:
        if not self.user or not self.domain:
            raise ConfigError("account needs a user and a domain")
        for uri in (self.registrar, self.proxy, self.contact):
            if uri is not None and not _uri_has_host(uri):
                raise ConfigError(f"{uri!r} is not a sip: URI (e.g. sip:pbx.example.com)")
        if self.register_expires_s < 10 or self.retry_interval_s < 1 or self.keepalive_s < 0:
            raise ConfigError(
                "register_expires_s must be >= 10, retry_interval_s >= 1 and keepalive_s >= 0"
            )


@dataclass(frozen=True, slots=True)
class TransportConfig:
    bind_address: str = "127.0.0.1"
    udp_port: int | None = 5070  # 0: any free port; None: no UDP
    tcp_port: int | None = None
    tls_port: int | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    # RTP: None: a random even port (and RTCP above it) within rtp_port_min..rtp_port_max
    # for every stream; N: sequential pairs from N, as PJSIP hands them out; 0: any
    rtp_port: int | None = None
    rtp_port_min: int = 16384
    rtp_port_max: int = 32767
    rtp_address: str | None = None  # RTP's address when it is not bind_address (behind a front)

    def __post_init__(self) -> None:
        ports = (self.udp_port, self.tcp_port, self.tls_port)
        if all(p is None for p in ports):
            raise ConfigError("enable at least one of udp_port, tcp_port, tls_port")
        if any(p is not None and not 0 <= p <= 65535 for p in (*ports, self.rtp_port)):
            raise ConfigError("ports must be within 0..65535")
        lo, hi = self.rtp_port_min, self.rtp_port_max
        if not (1024 <= lo and lo + 3 <= hi <= 65535):
            raise ConfigError(
                "rtp_port_min..rtp_port_max must hold two port pairs within 1024..65535, got "
                f"{lo}..{hi}"
            )
        if self.tls_port is not None and not (self.tls_cert_file and self.tls_key_file):
            raise ConfigError("tls_port needs tls_cert_file and tls_key_file")

    @property
    def media_address(self) -> str:
        """Where RTP is received: ``rtp_address`` when set (behind a front), else the bind."""
        return self.rtp_address or self.bind_address


@dataclass(frozen=True, slots=True)
class AdmissionConfig:
    """Which INVITEs the device answers."""

    trusted: tuple[str, ...] = ("127.0.0.1",)  # hosts, host:port or CIDR
    trust_registrar: bool = True  # the registrar / proxy host is trusted too
    require_identification: bool = False  # refuse INVITEs without session headers
    headers: HeaderNames = field(default_factory=HeaderNames)
    max_calls: int = WHEEL_MAX_CALLS
    max_streams: int = 4  # audio m= lines one INVITE may carry; more get 488
    ack_timeout_s: float = 5.0  # an un-ACKed 200 is hung up after this (PJSUA frees its slot later)
    invite_rate_per_s: float = 10.0  # INVITEs per second one source IP may send ...
    invite_burst: int = 20  # ... with this burst; beyond, 503 (bounded table of sources)
    front_source: str | None = None  # "ip:port" of a SIP front: its source header is believed

    def __post_init__(self) -> None:
        for entry in self.trusted:
            try:
                check_trusted(entry)
            except ValueError as err:
                raise ConfigError(
                    f"trusted source {entry!r} is not an IP address, address:port or CIDR network"
                ) from err
        if self.front_source is not None:
            try:
                check_trusted(self.front_source)
            except ValueError as err:
                raise ConfigError(f"front source {self.front_source!r}: {err}") from err
            if "/" in self.front_source or split_source(self.front_source)[1] is None:
                raise ConfigError(f"front source {self.front_source!r} must be IP:PORT")
        if not 1 <= self.max_streams <= MAX_STREAMS:
            raise ConfigError(f"max_streams must be 1..{MAX_STREAMS}")
        if not 0.5 <= self.ack_timeout_s <= 32:
            raise ConfigError("ack_timeout_s must be 0.5..32 (RFC 3261 timer H is 32 s)")
        if self.invite_rate_per_s <= 0 or self.invite_burst < 1:
            raise ConfigError("invite_rate_per_s must be > 0 and invite_burst >= 1")
        if not 1 <= self.max_calls <= WHEEL_MAX_CALLS:
            raise ConfigError(
                f"max_calls must be 1..{WHEEL_MAX_CALLS} (compiled into the pjsua2 wheel); "
                "run more device processes for more calls"
            )


@dataclass(frozen=True, slots=True)
class RtpGateConfig:
    """The RTP gate in front of PJMEDIA (softphone/rtpgate.py): on by default.

    Off, PJMEDIA's sockets face the network and take any datagram (see the
    README, "RTP hardening", for what that costs under a flood).
    """

    enabled: bool = True
    learn_packets: int = 2  # in-sequence packets that lock a stream to its source and SSRC
    relearn_silence_ms: int = 1000  # the lock moves only after the locked source is this quiet
    relearn_packets: int = 10  # ... and a new source sent this many in-sequence packets

    def __post_init__(self) -> None:
        if self.learn_packets < 1 or self.relearn_packets < 1 or self.relearn_silence_ms < 0:
            raise ConfigError("learn_packets and relearn_packets must be >= 1, "
                              "relearn_silence_ms >= 0")  # fmt: skip


@dataclass(frozen=True, slots=True)
class MediaConfig:
    codecs: tuple[str, ...] = CODECS  # in order of preference
    srtp: str = "optional"  # off | optional | mandatory (SDES over RTP/SAVP)
    jitter: JitterConfig = field(default_factory=JitterConfig)
    tap_rate_hz: int = 16000  # conference bridge rate; a tap runs at min(codec rate, this)
    stats_interval_s: float = 5.0
    rtp_gate: RtpGateConfig = field(default_factory=RtpGateConfig)

    def __post_init__(self) -> None:
        unknown = set(self.codecs) - set(CODECS)
        if unknown or not self.codecs:
            raise ConfigError(f"codecs must be a non-empty subset of {CODECS}, got {self.codecs}")
        if self.srtp not in SRTP_MODES:
            raise ConfigError(f"srtp must be one of {SRTP_MODES}, got {self.srtp!r}")
        if self.tap_rate_hz not in (8000, 16000):
            raise ConfigError("tap_rate_hz must be 8000 or 16000")


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    account: AccountConfig = field(
        default_factory=lambda: AccountConfig(user="listenin", domain="127.0.0.1")
    )
    transport: TransportConfig = field(default_factory=TransportConfig)
    admission: AdmissionConfig = field(default_factory=AdmissionConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    frame_queue: int = 4000  # frames buffered between media thread and pipeline (10 s of 8 streams)
    log_level: int = 1  # PJSIP's own log level (0-6) on stderr

    def __post_init__(self) -> None:
        if self.frame_queue < 50:
            raise ConfigError("frame_queue must hold at least 50 frames")

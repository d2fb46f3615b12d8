"""What the websocket server listens with: address, token, TLS, limits and keepalive.

:class:`ServerConfig` is checked when it is made, so a bad ``[server]`` table or
flag fails before anything starts, with a message that names the setting; a
server beyond loopback without a token, or with one shorter than
:data:`MIN_TOKEN_CHARS`, is refused.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from .hub import HubConfig

MIN_TOKEN_CHARS = 16


class ServerConfigError(ValueError):
    """The server cannot start with this configuration."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8765  # 0: any free port
    token: str | None = field(default=None, repr=False)
    token_env: str = "LISTENIN_WS_TOKEN"  # the variable the token is read from (for messages)
    tls_cert: str | None = None  # PEM; with tls_key, serve wss://
    tls_key: str | None = None
    max_message_bytes: int = 64 * 1024  # larger client messages close the socket (1009)
    stats_interval_s: float = 2.0  # call.stats period; 0 disables
    close_timeout_s: float = 2.0
    # keepalive: a client that has not answered a ping within ping_timeout_s reads
    # nothing; it is closed as a slow consumer (4008), not left to fill its queue
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 20.0
    compression: bool = False  # permessage-deflate: less bandwidth, far more CPU per client
    hub: HubConfig = field(default_factory=HubConfig)

    def __post_init__(self) -> None:
        if not self.host.strip():
            raise ServerConfigError("host must not be empty (it would mean every interface)")
        if not 0 <= self.port <= 65535:
            raise ServerConfigError(f"port must be 0-65535, got {self.port}")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ServerConfigError("TLS needs both a certificate and a key (tls_cert, tls_key)")
        if not 0 <= self.stats_interval_s <= 3600:
            raise ServerConfigError(
                f"stats_interval_s must be within 0..3600, got {self.stats_interval_s}"
            )
        if not 256 <= self.max_message_bytes <= 16 * 1024 * 1024:
            raise ServerConfigError(
                f"max_message_bytes must be within 256..16777216, got {self.max_message_bytes}"
            )
        if self.ping_interval_s <= 0 or self.ping_timeout_s <= 0:
            raise ServerConfigError("ping_interval_s and ping_timeout_s must be > 0")
        if self.token and len(self.token) < MIN_TOKEN_CHARS:
            raise ServerConfigError(
                f"the websocket token in {self.token_env} is too short ({len(self.token)} "
                f"characters): use at least {MIN_TOKEN_CHARS}, e.g. "
                f"{self.token_env}=$(openssl rand -hex 16)"
            )
        if not self.token and not is_loopback(self.host):
            raise ServerConfigError(
                f"refusing to serve on {self.host} without a token: set {self.token_env} "
                "(the variable named by [server] token_env), or bind to 127.0.0.1"
            )

    @property
    def scheme(self) -> str:
        return "wss" if self.tls_cert else "ws"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

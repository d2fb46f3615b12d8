"""Per-platform configuration: frozen dataclasses built from a config-file table.

The app's TOML file has one table per platform (``[platforms.ringcentral]``,
``[platforms.ringcx]``, ``[platforms.genesys]``, ``[platforms.yeastar]``);
:func:`platform_config` checks a table's keys and types (strictly, with
:func:`records.settings.read_table`, like every config-file table) and builds
the dataclass, whose ``__post_init__`` checks the values.  Every error names the
bad key (``platforms.ringcx.poll_interval_s: must be within 5..60 s``).
Secrets are never in the file: a ``*_env`` key names the environment variable
that holds each (read by :func:`~platforms.secret.from_env`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from records.settings import SettingError, check_env_name, field_types, read_table, show_key

SUPERVISE_MODES = ("party", "session")
RC_EVENTS = ("webhook", "poll")
RC_EVENT_LEVELS = ("extension", "account")
RINGCX_PRODUCTS = ("ACCOUNT", "ACD", "OUTBOUND", "VISUAL_IVR", "CLOUD_PROFILE", "TRAC_NUMBER",
                   "DNIS")  # fmt: skip  # the products that return calls (RingCX appendix)
RINGCX_SESSION_TYPES = ("MONITOR", "COACHING", "BARGEIN")
GENESYS_SCOPES = ("Agent", "Call")
GENESYS_MODES = ("NextCall", "AllCalls")
YEASTAR_TYPES = ("listen", "whisper", "barge")


class PlatformConfigError(SettingError):
    """A bad platform setting; ``key`` is its dotted name (``platforms.ringcx.poll_interval_s``)."""


def _need(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise PlatformConfigError(key, message)


def _within(cfg: Any, key: str, lo: float, hi: float, unit: str = " s", why: str = "") -> None:
    _need(lo <= getattr(cfg, key) <= hi, key, f"must be within {lo}..{hi}{unit}{why}")


def _url(value: str, key: str) -> None:
    _need(value.startswith(("http://", "https://")), key, f"must be an http(s) URL, got {value!r}")


def _hostport(value: str, key: str) -> None:
    host, sep, port = value.rpartition(":")
    _need(
        bool(sep and host and port.isdigit() and 0 <= int(port) <= 65535),
        key,
        f"must be HOST:PORT, got {value!r}",
    )


def split_hostport(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host, int(port)


def _check_common(cfg: Any) -> None:
    for f in fields(cfg):
        if f.name.endswith("_env"):
            check_env_name(getattr(cfg, f.name), f.name)
    _need(0 < cfg.request_timeout_s <= 120, "request_timeout_s", "must be within (0, 120] s")
    _within(cfg, "max_retries", 0, 10, "")
    _within(cfg, "max_device_calls", 0, 4096, "")


@dataclass(frozen=True, slots=True)
class RingCentralConfig:
    client_id: str
    server_url: str = "https://platform.ringcentral.com"
    client_secret_env: str = "RC_CLIENT_SECRET"
    jwt_env: str = "RC_JWT"
    supervisor_extension_id: str = "~"  # whose devices to list ("~": the JWT's user)
    device_id: str = ""  # the supervisor device (listenin's SIP registration) ...
    device_name: str = ""  # ... or its name; one of the two is needed to supervise
    groups: tuple[str, ...] = ()  # monitoring groups (ids or names) to watch; () = all
    supervise: str = "party"  # party: a stream per party; session: one mixed stream
    events: str = "webhook"  # webhook (telephony session notifications) | poll
    event_level: str = "extension"  # subscribe per monitored extension, or account-wide
    webhook_bind: str = "127.0.0.1:8090"  # where listenin's notification listener binds
    webhook_url: str = ""  # the public URL RingCentral posts to (default http://BIND/)
    subscription_expires_s: int = 86400
    check_interval_s: float = 0.5  # how often the watcher looks at received notifications
    poll_interval_s: float = 5.0  # active-calls polling (the fallback)
    token_refresh_margin_s: int = 120  # refresh the access token this long before expiry
    max_device_calls: int = 0  # SIP calls the host takes (per-party: one per party); 0: --max-calls
    request_timeout_s: float = 10.0
    max_retries: int = 4

    def __post_init__(self) -> None:
        _need(bool(self.client_id), "client_id", "must not be empty")
        _url(self.server_url, "server_url")
        _need(self.supervise in SUPERVISE_MODES, "supervise", f"must be one of {SUPERVISE_MODES}")
        _need(self.events in RC_EVENTS, "events", f"must be one of {RC_EVENTS}")
        _need(
            self.event_level in RC_EVENT_LEVELS, "event_level", f"must be one of {RC_EVENT_LEVELS}"
        )
        _hostport(self.webhook_bind, "webhook_bind")
        if self.webhook_url:
            _url(self.webhook_url, "webhook_url")
        _within(self, "subscription_expires_s", 300, 315360000)
        _within(self, "check_interval_s", 0.05, 60)
        _within(self, "poll_interval_s", 1, 600)
        _within(self, "token_refresh_margin_s", 0, 1800)
        _check_common(self)


@dataclass(frozen=True, slots=True)
class RingCXConfig:
    client_id: str
    account_id: str
    destination: str  # the supervisor device's phone number (digits or E.164)
    base_url: str = "https://ringcx.ringcentral.com/voice/api/v1/admin"
    auth_server_url: str = "https://platform.ringcentral.com"  # JWT -> access token here
    client_secret_env: str = "RC_CLIENT_SECRET"
    jwt_env: str = "RC_JWT"
    product: str = "ACCOUNT"
    product_id: str = ""  # default: account_id
    session_type: str = "MONITOR"  # MONITOR | COACHING | BARGEIN
    agents: tuple[str, ...] = ()  # "First Last" names to supervise; () = every agent
    poll_interval_s: float = 5.0  # the documentation asks for 5-10 s
    max_requests_per_min: int = 120  # per token, under the platform's limit
    match_window_s: float = 15.0  # addSessionToCall -> INVITE pairing window
    token_refresh_margin_s: int = 120
    max_device_calls: int = 0
    request_timeout_s: float = 10.0
    max_retries: int = 4

    def __post_init__(self) -> None:
        for key in ("client_id", "account_id"):
            _need(bool(getattr(self, key)), key, "must not be empty")
        digits = self.destination.removeprefix("+")
        _need(
            digits.isdigit() and 3 <= len(digits) <= 15,
            "destination",
            f"must be a phone number (digits or E.164), got {self.destination!r}",
        )
        _url(self.base_url, "base_url")
        _url(self.auth_server_url, "auth_server_url")
        _need(self.product in RINGCX_PRODUCTS, "product", f"must be one of {RINGCX_PRODUCTS}")
        _need(
            self.session_type in RINGCX_SESSION_TYPES,
            "session_type",
            f"must be one of {RINGCX_SESSION_TYPES}",
        )
        _within(self, "poll_interval_s", 5, 60)
        _within(
            self,
            "max_requests_per_min",
            1,
            120,
            "",
            why=" (RingCX allows 120 per minute per token)",
        )
        _need(0 < self.match_window_s <= 120, "match_window_s", "must be within (0, 120] s")
        _within(self, "token_refresh_margin_s", 0, 1800)
        _check_common(self)


@dataclass(frozen=True, slots=True)
class GenesysConfig:
    base_url: str  # Genesys Web Services, e.g. http://gws.example.com:8080
    username: str
    supervisor_device_id: str  # the supervisor's device (listenin's DN)
    target_device_uri: str  # the agent device to monitor (…/api/v2/devices/{id})
    password_env: str = "GWS_PASSWORD"
    scope: str = "Call"  # Agent | Call
    mode: str = "AllCalls"  # NextCall | AllCalls
    phone_number: str = ""  # the monitored phone number, when the deployment needs it
    confirm_timeout_s: float = 10.0  # wait this long for the DeviceStateChangeMessage
    check_interval_s: float = 1.0
    max_device_calls: int = 0
    request_timeout_s: float = 40.0  # above the CometD long-poll hold
    max_retries: int = 4

    def __post_init__(self) -> None:
        _url(self.base_url, "base_url")
        for key in ("username", "supervisor_device_id"):
            _need(bool(getattr(self, key)), key, "must not be empty")
        _url(self.target_device_uri, "target_device_uri")
        _need(self.scope in GENESYS_SCOPES, "scope", f"must be one of {GENESYS_SCOPES}")
        _need(self.mode in GENESYS_MODES, "mode", f"must be one of {GENESYS_MODES}")
        _need(0 < self.confirm_timeout_s <= 120, "confirm_timeout_s", "must be within (0, 120] s")
        _within(self, "check_interval_s", 0.05, 60)
        _check_common(self)


@dataclass(frozen=True, slots=True)
class YeastarConfig:
    base_url: str  # e.g. https://192.168.5.150:8088
    client_id: str
    monitor: str  # the monitor's extension number (listenin's registration)
    api_path: str = "openapi/v1.0"
    client_secret_env: str = "YEASTAR_CLIENT_SECRET"
    extensions: tuple[str, ...] = ()  # monitored extensions; () = every extension's calls
    type: str = "listen"  # listen | whisper | barge
    webhook_bind: str = "127.0.0.1:8091"  # where the PBX's webhook posts call events
    check_interval_s: float = 0.5
    token_refresh_margin_s: int = 120
    match_window_s: float = 15.0
    max_device_calls: int = 0
    request_timeout_s: float = 10.0
    max_retries: int = 4

    def __post_init__(self) -> None:
        _url(self.base_url, "base_url")
        _need(bool(self.client_id), "client_id", "must not be empty")
        _need(
            self.monitor.isdigit(), "monitor", f"must be an extension number, got {self.monitor!r}"
        )
        _need(bool(self.api_path.strip("/")), "api_path", "must not be empty")
        _need(all(e.isdigit() for e in self.extensions), "extensions", "must be extension numbers")
        _need(self.type in YEASTAR_TYPES, "type", f"must be one of {YEASTAR_TYPES}")
        _hostport(self.webhook_bind, "webhook_bind")
        _within(self, "check_interval_s", 0.05, 60)
        _within(self, "token_refresh_margin_s", 0, 1500, why=" (tokens live 30 min)")
        _need(0 < self.match_window_s <= 120, "match_window_s", "must be within (0, 120] s")
        _check_common(self)


PlatformConfig = RingCentralConfig | RingCXConfig | GenesysConfig | YeastarConfig
CONFIGS: dict[str, type] = {
    "ringcentral": RingCentralConfig,
    "ringcx": RingCXConfig,
    "genesys": GenesysConfig,
    "yeastar": YeastarConfig,
}


def platform_config(name: str, table: Mapping[str, Any]) -> PlatformConfig:
    """Build and check the config of platform ``name`` from its table."""
    section = f"platforms.{name}"
    cls = CONFIGS.get(name)
    if cls is None:
        known = ", ".join(CONFIGS)
        raise PlatformConfigError(show_key(name), f"unknown platform (known: {known})", "platforms")
    try:
        hints, required = field_types(cls)
        kwargs = read_table(table, hints, section, required)
        for key, value in kwargs.items():  # surrounding blanks are a copy-paste accident
            if isinstance(value, str):
                kwargs[key] = value.strip()
            elif isinstance(value, tuple):
                kwargs[key] = tuple(v.strip() for v in value)
        return cls(**kwargs)  # type: ignore[no-any-return]
    except SettingError as err:
        raise PlatformConfigError(err.name, err.message, err.section or section) from None

"""The configuration file (TOML), read once at the edge into the stages' frozen configs.

::

    [server]                      # websocket endpoint + web console
    host = "127.0.0.1"
    port = 8765
    token_env = "LISTENIN_WS_TOKEN"   # the bearer token is read from this variable
    tls_cert = "/etc/listenin/cert.pem"
    tls_key = "/etc/listenin/key.pem"
    stats_interval_s = 2.0
    queue_events = 1024           # per subscriber
    queue_bytes = 1048576         # per subscriber, with what its socket still holds
    replay_events = 4096          # per call, for resuming clients

    [archive]                     # recordings and transcripts on disk
    root = "/var/lib/listenin"
    folder = "{date}/{call_id}"
    party_file = "{party}.wav"
    stereo_file = "stereo.wav"
    jsonl_file = "transcript.jsonl"
    text_file = "transcript.txt"
    flush_interval_ms = 1000
    fsync = false

    [bus]                         # scale-out: events to Redis Streams, for gateways
    url = "redis://127.0.0.1:6379/0"
    maxlen_per_call = 10000
    index_maxlen = 10000
    stream_prefix = "listenin"
    queue_entries = 10000
    ended_ttl_s = 86400

    [[webhooks]]                  # one table per HTTP target (see README)
    url = "https://example.com/hooks/listenin"
    events = ["transcript.final", "call.ended"]
    secret_env = "LISTENIN_HOOK_SECRET"
    [redaction]                   # card data masked before events leave (on by default)
    cards = true
    redact_audio = false          # true: silence the archived audio of masked words
    hold_ms = 12000               # a final ending in digits waits this long for the next
    [redaction.patterns]          # extra named regexes, masked as "[name]"
    ssn = '\\b\\d{3} \\d{2} \\d{4}\\b'

    [platforms.ringcentral]       # one table per platform adapter (see README)

    [[alerts]]                    # phrase alerts (pipeline.alerts), one table per rule
    name = "cancel"
    party = "customer"            # optional: only this party's finals
    phrases = ["cancel my account", "close the account"]
    regex = "refund (now|today)"  # optional, on the normalised text

Unknown tables and keys, wrong types and bad values are refused with a
:class:`ConfigError` of one line naming the file, the table, the key and the
problem (``FILE: [archive] fsync: expected a boolean (true or false), got
"yes"``); types are checked by :func:`records.settings.read_table`, values by
the stages' frozen configs.  Paths are checked when the outputs start: the
archive root must be a writable folder, the TLS files readable PEM.  Secrets
never live in the file: only the names of the environment variables that hold
them.
"""

from __future__ import annotations

import os
import ssl
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from pipeline.alerts import AlertRule
from pipeline.redact import RedactionConfig
from records.settings import (
    SettingError,
    check_env_name,
    field_types,
    read_table,
    show,
    show_key,
)
from sinks.archive import ArchiveConfig
from sinks.bus_layout import BusConfig
from sinks.hub import HubConfig
from sinks.server import ServerConfig
from sinks.webhook_policy import WebhookConfig

TOKEN_ENV = "LISTENIN_WS_TOKEN"
SECTIONS = ("server", "archive", "bus", "webhooks", "redaction", "platforms", "alerts")
REDACTION_KEYS: dict[str, Any] = {
    "cards": bool, "patterns": dict, "redact_audio": bool, "hold_ms": int,
}  # fmt: skip
MAX_FILE_BYTES = 1024 * 1024
SERVER_KEYS: dict[str, Any] = {
    "host": str, "port": int, "token_env": str, "tls_cert": Path, "tls_key": Path,
    "stats_interval_s": float, "max_message_bytes": int, "compression": bool,
    "queue_events": int, "queue_bytes": int, "replay_events": int, "replay_calls": int,
}  # fmt: skip
HUB_KEYS = {f.name for f in fields(HubConfig)}
BUS_KEYS = {f.name for f in fields(BusConfig)}
ALERT_KEYS: dict[str, Any] = {
    "name": str, "party": str | None, "phrases": tuple[str, ...], "regex": str | None,
}  # fmt: skip
WEBHOOK_KEYS = field_types(WebhookConfig, skip=("secret",))


class ConfigError(Exception):
    """A configuration file that cannot be used; the message says where and why."""


@dataclass(frozen=True, slots=True)
class AppConfig:
    server: dict[str, Any] = field(default_factory=dict)  # checked [server] keys
    archive: dict[str, Any] | None = None  # checked [archive] keys; None: no table
    bus: dict[str, Any] = field(default_factory=dict)  # checked [bus] keys
    webhooks: tuple[dict[str, Any], ...] = ()  # checked keys of each [[webhooks]] table
    platforms: dict[str, Any] = field(default_factory=dict)  # name -> its checked PlatformConfig
    path: Path | None = None
    alerts: tuple[AlertRule, ...] = ()  # the [[alerts]] rules, checked (regexes compiled)
    redaction: RedactionConfig = RedactionConfig()  # [redaction], checked


def load_config(path: str | Path | None) -> AppConfig:
    """The checked file; any problem is one :class:`ConfigError` line, never a traceback."""
    if path is None:
        return AppConfig()
    path = Path(path)
    data = _parse(path)
    try:
        for name, value in data.items():
            if name not in SECTIONS:
                table = isinstance(value, dict)
                raise SettingError(
                    f"[{show_key(name)}]" if table else show_key(name),
                    f"unknown {'table' if table else 'key outside any table'} "
                    "(known: [server], [archive], [bus], [[webhooks]], [redaction], "
                    "[platforms.NAME], [[alerts]])",
                )
        server = read_table(data.get("server", {}), SERVER_KEYS, "server")
        if "token_env" in server:
            check_env_name(server["token_env"], "token_env", "server")
        archive = None
        if "archive" in data:
            hints, required = field_types(ArchiveConfig)
            archive = read_table(data["archive"], hints, "archive", required)
        bus = read_table(data.get("bus", {}), field_types(BusConfig)[0], "bus")
        webhooks = _webhooks(data.get("webhooks", []))
        platforms = _platforms(data.get("platforms", {}))
        redaction = _redaction(data.get("redaction", {}))
    except SettingError as err:
        raise ConfigError(_located(path, err)) from None
    alerts = _alerts(path, data.get("alerts", []))
    return AppConfig(server, archive, bus, webhooks, platforms, path, alerts, redaction)


def _redaction(table: Any) -> RedactionConfig:
    """``[redaction]``: ``cards``, ``redact_audio`` and a ``patterns`` table of name = regex."""
    if not isinstance(table, dict):
        raise SettingError("redaction", f"must be a table ([redaction]), got {show(table)}")
    for key in table:
        if key not in REDACTION_KEYS:
            known = ", ".join(REDACTION_KEYS)
            raise SettingError(show_key(key), f"unknown key (known: {known})", "redaction")
    plain = {k: v for k, v in table.items() if k != "patterns"}
    hints = {k: v for k, v in REDACTION_KEYS.items() if v is not dict}
    values = read_table(plain, hints, "redaction")
    patterns = table.get("patterns", {})
    if not isinstance(patterns, dict):
        raise SettingError("patterns", f"must be a table of name = regex, got {show(patterns)}",
                           "redaction")  # fmt: skip
    for name, regex in patterns.items():
        if not isinstance(regex, str):
            raise SettingError(f"patterns.{show_key(name)}", f"expected a regex string, got "
                               f"{show(regex)}", "redaction")  # fmt: skip
    try:
        return RedactionConfig(patterns=tuple(patterns.items()), **values)
    except ValueError as err:
        name, _, message = str(err).partition(": ")
        raise SettingError(name, message, "redaction") from None


def _parse(path: Path) -> dict[str, Any]:
    try:
        if path.is_dir():
            raise ConfigError(f"{path}: cannot read (it is a folder)")
        raw = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror or err})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: not a config file ({len(raw)} bytes, over {MAX_FILE_BYTES})")
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML (not UTF-8 text: byte {err.start})") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid TOML (nested too deeply)") from None


def _platforms(table: Any) -> dict[str, Any]:
    from platforms.config import platform_config

    if not isinstance(table, dict):
        raise SettingError("platforms", "must hold one table per platform ([platforms.NAME])")
    return {name: platform_config(name, value) for name, value in table.items()}


def _alerts(path: Path, tables: Any) -> tuple[AlertRule, ...]:
    """The ``[[alerts]]`` rules; an error names the rule: ``FILE: [[alerts]] "x": regex: ...``."""
    if not isinstance(tables, list):
        raise ConfigError(f"{path}: alerts: must be an array of tables ([[alerts]])")
    rules: list[AlertRule] = []
    for n, table in enumerate(tables, 1):
        label = f"#{n}"
        if isinstance(table, dict) and isinstance(table.get("name"), str):
            label = show(table["name"])
        try:
            values = read_table(table, ALERT_KEYS, "", ["name"])
            if any(values["name"] == r.name for r in rules):
                raise SettingError("name", "another [[alerts]] table has this name")
            try:
                rules.append(AlertRule(**values))
            except ValueError as err:
                key, _, message = str(err).partition(": ")
                raise SettingError(key, message) from None
        except SettingError as err:
            raise ConfigError(f"{path}: [[alerts]] {label}: {err.name}: {err.message}") from None
    return tuple(rules)


def _webhooks(tables: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(tables, list):
        raise SettingError("webhooks", "must be an array of tables ([[webhooks]])")
    hints, required = WEBHOOK_KEYS
    out = []
    for i, table in enumerate(tables, 1):
        values = read_table(table, hints, f"webhooks #{i}", required)
        if "secret_env" in values:
            check_env_name(values["secret_env"], "secret_env", f"webhooks #{i}")
        out.append(values)
    return tuple(out)


def _located(where: Any, err: SettingError) -> str:
    section = f"[{err.section}] " if err.section else ""
    return f"{where}: {section}{err.name}: {err.message}"


def platform_settings(app: AppConfig, name: str):  # type: ignore[no-untyped-def]
    """The checked ``[platforms.NAME]`` config (checked when the file was loaded)."""
    config = app.platforms.get(name)
    if config is None:
        raise ConfigError(f"{app.path or 'config'}: no [platforms.{name}] table")
    return config


def server_config(app: AppConfig, **overrides: Any) -> ServerConfig:
    """The websocket server's config: file values, then CLI overrides (None = not given).

    The TLS files are checked here (readable, a PEM certificate and its key), so
    that a missing file stops the start with its path, not a traceback later.
    """
    values = {**app.server, **{k: v for k, v in overrides.items() if v is not None}}
    token_env = values.pop("token_env", TOKEN_ENV)
    hub = {k: values.pop(k) for k in list(values) if k in HUB_KEYS}
    for key in ("tls_cert", "tls_key"):
        if key in values:
            values[key] = str(values[key])
    where = f"{app.path}: [server] " if app.path else ""
    try:
        config = ServerConfig(
            token=os.environ.get(token_env) or None, token_env=token_env, hub=HubConfig(**hub),
            **values,
        )  # fmt: skip
    except (TypeError, ValueError) as err:
        flags = [f"--ws-{k}" for k, v in overrides.items() if v is not None and f"{k} " in str(err)]
        raise ConfigError(f"{flags[0]}: {err}" if flags else f"{where}{err}") from err
    if config.tls_cert and config.tls_key:
        _check_tls(config.tls_cert, config.tls_key, where)
    return config


def _check_tls(cert: str, key: str, where: str) -> None:
    for name, path in (("tls_cert", cert), ("tls_key", key)):
        try:
            with open(path, "rb"):
                pass
        except OSError as err:
            raise ConfigError(f"{where}{name}: cannot read {path} ({err.strerror})") from None
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as err:
        reason = getattr(err, "reason", None) or err.strerror or err
        raise ConfigError(
            f"{where}tls_cert, tls_key: {cert} and {key} are not a PEM certificate and its "
            f"key ({reason})"
        ) from None


def archive_config(
    app: AppConfig, root: str | None = None, *, check_root: bool = False
) -> ArchiveConfig | None:
    """The archive's config, or None when recording is off (no [archive], no --archive).

    ``root`` is ``--archive DIR`` (it wins over the file's).  With ``check_root``
    the folder is created if needed and must be writable.
    """
    if app.archive is None and root is None:
        return None
    values = dict(app.archive or {})
    where = f"{app.path}: [archive] " if app.path else "--archive: "
    if root is not None:
        if not root.strip():
            raise ConfigError("--archive: expected a folder, got an empty path")
        values["root"] = root
    try:
        config = ArchiveConfig(**values)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}{err}") from err
    if check_root and config.enabled:
        _check_writable(config.root, "--archive: " if root is not None else f"{where}root: ")
    return config


def _check_writable(root: Path, where: str) -> None:
    """Refuse an archive folder that cannot be created or written, before anything starts."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"{where}cannot create folder {root} ({err.strerror})") from None
    if not root.is_dir() or not os.access(root, os.W_OK | os.X_OK):
        raise ConfigError(f"{where}{root} is not a writable folder")


def bus_config(app: AppConfig, url: str | None = None) -> BusConfig | None:
    """The bus's config, or None when there is none (no ``--bus``, no [bus] ``url``)."""
    values = dict(app.bus)
    if url is not None:
        values["url"] = url
    if "url" not in values:
        if app.bus:
            raise ConfigError(f"{app.path}: [bus] url: missing (or give --bus URL)")
        return None
    try:
        return BusConfig(**values)
    except (TypeError, ValueError) as err:
        flag = url is not None and str(err).startswith("url")
        raise ConfigError(f"{'--bus: ' if flag else f'{app.path}: [bus] '}{err}") from err


def webhooks_config(app: AppConfig, archive_root: Path | None = None) -> list[WebhookConfig]:
    """Each ``[[webhooks]]`` target's config, its secret read from ``secret_env``.

    The dead-letter file defaults to ``ARCHIVE_ROOT/webhooks-dead-letter.jsonl``
    (none without an archive: undeliverable events are then counted and logged).
    """
    out = []
    for i, table in enumerate(app.webhooks, 1):
        values = dict(table)
        where = f"{app.path}: [webhooks #{i}] "
        secret = b""
        if values.get("secret_env"):
            text = os.environ.get(values["secret_env"])
            if not text:
                raise ConfigError(f"{where}secret_env: variable {values['secret_env']} is not set")
            secret = text.encode()
        if "dead_letter_file" not in values and archive_root is not None:
            values["dead_letter_file"] = Path(archive_root) / "webhooks-dead-letter.jsonl"
        try:
            out.append(WebhookConfig(**values, secret=secret))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{where}{err}") from err
    return out

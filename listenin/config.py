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

    [platforms.ringcentral]       # one table per platform adapter (see README)

Unknown sections and keys, wrong types and bad values are refused with a
:class:`ConfigError` naming the file, the key and the problem.  Secrets never
live in the file: only the names of the environment variables that hold them.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sinks.archive import ArchiveConfig
from sinks.hub import HubConfig
from sinks.server import ServerConfig

TOKEN_ENV = "LISTENIN_WS_TOKEN"
SECTIONS = ("server", "archive", "platforms")
SERVER_KEYS = {
    "host": str, "port": int, "token_env": str, "tls_cert": str, "tls_key": str,
    "stats_interval_s": (int, float), "max_message_bytes": int, "compression": bool,
    "queue_events": int, "queue_bytes": int, "replay_events": int, "replay_calls": int,
}  # fmt: skip
HUB_KEYS = {f.name for f in fields(HubConfig)}


class ConfigError(Exception):
    """A configuration file that cannot be used; the message says where and why."""


@dataclass(frozen=True, slots=True)
class AppConfig:
    server: dict[str, Any] = field(default_factory=dict)  # checked [server] keys
    archive: dict[str, Any] | None = None  # checked [archive] keys; None: no table
    platforms: dict[str, dict[str, Any]] = field(default_factory=dict)  # raw, per adapter
    path: Path | None = None


def load_config(path: str | Path | None) -> AppConfig:
    if path is None:
        return AppConfig()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror or err})") from err
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {unknown}; known: {list(SECTIONS)}")
    server = _table(path, data, "server")
    _check_types(path, "server", server, SERVER_KEYS)
    archive = data.get("archive")
    if archive is not None:
        archive = _table(path, data, "archive")
        known = {f.name for f in fields(ArchiveConfig)}
        bad = sorted(set(archive) - known)
        if bad:
            raise ConfigError(f"{path}: [archive] unknown key(s) {bad}; known: {sorted(known)}")
        if "root" not in archive:
            raise ConfigError(f"{path}: [archive] needs root = the folder for recordings")
    platforms = _table(path, data, "platforms")
    for name, table in platforms.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [platforms.{name}] must be a table")
    return AppConfig(server, archive, platforms, path)


def _table(path: Path, data: dict[str, Any], name: str) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {name} must be a table ([{name}])")
    return dict(table)


def _check_types(path: Path, section: str, table: dict[str, Any], keys: dict[str, Any]) -> None:
    for key, value in table.items():
        if key not in keys:
            raise ConfigError(f"{path}: [{section}] unknown key {key!r}; known: {sorted(keys)}")
        if (isinstance(value, bool) and keys[key] is not bool) or not isinstance(value, keys[key]):
            raise ConfigError(f"{path}: [{section}] {key} has the wrong type ({value!r})")


def platform_settings(app: AppConfig, name: str):  # type: ignore[no-untyped-def]
    """The checked ``[platforms.NAME]`` table: one reader, one :class:`ConfigError`."""
    from platforms import PlatformConfigError, platform_config

    where = app.path or "config"
    table = app.platforms.get(name)
    if table is None:
        raise ConfigError(f"{where} has no [platforms.{name}] table")
    try:
        return platform_config(name, table)
    except PlatformConfigError as err:
        raise ConfigError(f"{where}: {err}") from err


def server_config(app: AppConfig, **overrides: Any) -> ServerConfig:
    """The websocket server's config: file values, then CLI overrides (None = not given)."""
    values = {**app.server, **{k: v for k, v in overrides.items() if v is not None}}
    token_env = values.pop("token_env", TOKEN_ENV)
    hub = {k: values.pop(k) for k in list(values) if k in HUB_KEYS}
    where = f"{app.path}: [server]" if app.path else "server"
    try:
        return ServerConfig(token=os.environ.get(token_env) or None, hub=HubConfig(**hub), **values)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {err}") from err


def archive_config(app: AppConfig, root: str | None = None) -> ArchiveConfig | None:
    """The archive's config, or None when recording is off (no [archive], no --archive)."""
    if app.archive is None and root is None:
        return None
    values = dict(app.archive or {})
    if root is not None:
        values["root"] = root
    try:
        return ArchiveConfig(**values)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{app.path or 'archive'}: [archive] {err}") from err

"""``listenin check``: is this config and this host ready to ``run``? Nothing starts.

Takes ``run``'s device, output and speech options and checks, one line each:
the TOML file, the device options, the SIP ports, the SIP front, the websocket
server (its settings and port), the archive folder, the bus settings, the model,
and the secrets the options need (``LISTENIN_SIP_PASSWORD`` with ``--registrar``,
each platform table's ``*_env`` variables).  Exit status 0 when every check
passes, 1 otherwise, 2 for a usage error (as the other commands).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from .options import CliError, asr_options, device_options, output_options, verbosity


class Problem(Exception):
    """A check that failed: its message is the line printed."""


def add_check_command(sub: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Register ``check`` on the CLI's subparsers; returns its handler."""
    c = sub.add_parser(
        "check",
        help="check a config and this host for `run`, without starting anything",
        description="Check the configuration file and the environment `listenin run` would "
        "use with the same options (ports free, archive writable, model present, kamailio, "
        "secrets set): one line per check; exit status 0 when all pass, 1 otherwise.",
    )
    device_options(c)
    output_options(c)
    asr_options(c)
    verbosity(c)
    return {"check": cmd_check}


def cmd_check(args: argparse.Namespace) -> int:
    from .config import AppConfig

    state: dict[str, Any] = {"app": AppConfig(), "device": None}
    checks: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("config", lambda s: _config(args, s)),
        ("device", lambda s: _device(args, s)),
        ("sip ports", lambda s: _sip_ports(s)),
        ("sip front", lambda s: _front(args, s)),
        ("websocket", lambda s: _websocket(args, s)),
        ("archive", lambda s: _archive(args, s)),
        ("bus", lambda s: _bus(args, s)),
        ("model", lambda s: _model(args)),
        ("secrets", lambda s: _secrets(args, s)),
    ]
    failed = 0
    for name, check in checks:
        try:
            line = f"ok       {name}: {check(state)}"
        except (Problem, CliError) as err:
            failed += 1
            line = f"problem  {name}: {err}"
        print(line, flush=True)
    print(f"listenin check: {failed} problem{'s' * (failed != 1)}" if failed
          else "listenin check: all good", file=sys.stderr)  # fmt: skip
    return 1 if failed else 0


def _config(args: argparse.Namespace, state: dict[str, Any]) -> str:
    from .config import ConfigError, load_config

    if args.config is None:
        return "no --config file (defaults)"
    try:
        state["app"] = load_config(args.config)
    except ConfigError as err:
        raise Problem(str(err)) from None
    tables = ", ".join(_tables(state["app"])) or "no tables"
    return f"{args.config} ({tables})"


def _tables(app: Any) -> list[str]:
    out = [name for name in ("server", "bus") if getattr(app, name)]
    if app.archive is not None:
        out.append("archive")
    return out + [f"platforms.{name}" for name in app.platforms]


def _device(args: argparse.Namespace, state: dict[str, Any]) -> str:
    from .options import device_config

    config = state["device"] = device_config(args)
    who = f"{config.account.user}@{config.account.domain}"
    registrar = config.account.registrar
    return who + (f", registering with {registrar}" if registrar else ", not registering")


def _sip_ports(state: dict[str, Any]) -> str:
    from .serve import check_ports

    config = state["device"]
    if config is None:
        raise Problem("not checked (device options have a problem)")
    check_ports(config)
    t = config.transport
    ports = [f"{n} {p}" for n, p in (("UDP", t.udp_port), ("TCP", t.tcp_port),
                                     ("TLS", t.tls_port)) if p]  # fmt: skip
    return f"{t.bind_address}: " + (", ".join(ports) + " free" if ports else "any free port")


def _front(args: argparse.Namespace, state: dict[str, Any]) -> str:
    from softphone.kamailio import kamailio_binary

    from .serve import front_unavailable

    config = state["device"]
    if args.front == "none":
        return "none (--front none): the device is exposed directly"
    why = front_unavailable(args, config) if config is not None else None
    if why is not None:
        if args.front == "kamailio":
            raise Problem(f"--front kamailio: {why}")
        return f"none ({why}): the device is exposed directly"
    return f"kamailio ({kamailio_binary()})"


def _websocket(args: argparse.Namespace, state: dict[str, Any]) -> str:
    from sinks.server import ServerConfigError

    from .config import ConfigError, server_config

    if args.no_server:
        return "off (--no-server)"
    try:
        config = server_config(state["app"], host=args.ws_host, port=args.ws_port)
    except (ConfigError, ServerConfigError, ValueError) as err:
        raise Problem(str(err)) from None
    if config.port:
        family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((config.host, config.port))
            except OSError as err:
                raise Problem(f"{config.host}:{config.port}: {err.strerror}") from None
    token = "token set" if config.token else "no token"
    return f"{config.host}:{config.port} free ({token})"


def _archive(args: argparse.Namespace, state: dict[str, Any]) -> str:
    from .config import ConfigError, archive_config

    try:
        config = archive_config(state["app"], args.archive, check_root=True)
    except ConfigError as err:
        raise Problem(str(err)) from None
    if config is None or not config.enabled:
        return "off (no --archive, no [archive])"
    return f"{config.root} writable"


def _bus(args: argparse.Namespace, state: dict[str, Any]) -> str:
    from .config import ConfigError, bus_config

    try:
        config = bus_config(state["app"], args.bus)
    except ConfigError as err:
        raise Problem(str(err)) from None
    if config is not None and args.no_server:
        raise Problem("--no-server with a bus: the node's server numbers the events")
    return "off" if config is None else f"{config.where} (not contacted)"


def _model(args: argparse.Namespace) -> str:
    from models import ModelError, resolve

    try:
        return f"{args.model} at {resolve(args.model)}"
    except ModelError as err:
        raise Problem(str(err)) from None


def _secrets(args: argparse.Namespace, state: dict[str, Any]) -> str:
    wanted: list[tuple[str, str]] = []
    if args.registrar:
        wanted.append(("LISTENIN_SIP_PASSWORD", "--registrar"))
    for name, config in state["app"].platforms.items():
        wanted += [(getattr(config, f.name), f"[platforms.{name}] {f.name}")
                   for f in fields(config) if f.name.endswith("_env")]  # fmt: skip
    missing = [f"{env} (for {why})" for env, why in wanted if not os.environ.get(env)]
    if missing:
        raise Problem("not set: " + ", ".join(missing))
    return ", ".join(env for env, _ in wanted) + " set" if wanted else "none needed"

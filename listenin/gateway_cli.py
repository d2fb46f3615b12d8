"""``listenin gateway``: the websocket API and web console for many nodes, from the bus.

A gateway serves what ``listenin run --bus URL`` nodes publish to Redis
(:class:`sinks.gateway.Gateway`); it takes the ``[server]`` and ``[bus]`` tables
of ``--config`` and the same ``--ws-host``/``--ws-port`` flags as ``run``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from .options import CliError, verbosity


def add_gateway_command(sub: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Register ``gateway`` on the CLI's subparsers; returns its handler."""
    g = sub.add_parser(
        "gateway",
        help="serve the websocket API and console for every node on a bus (Redis Streams)",
        description="Follow the events that `listenin run --bus URL` nodes publish to Redis "
        "and serve them with the same websocket API and web console as a node, with the "
        "same seq; any number of gateways may follow one bus.",
    )
    g.add_argument("--bus", metavar="URL", help="Redis to read, e.g. redis://127.0.0.1:6379/0 "
                   "(or [bus] url in --config)")  # fmt: skip
    g.add_argument("--config", metavar="FILE", help="TOML configuration file ([server], [bus])")
    g.add_argument("--ws-host", help="websocket/console address (default 127.0.0.1)")
    g.add_argument("--ws-port", type=int, help="websocket/console port (default 8765, 0: any)")
    verbosity(g)
    return {"gateway": cmd_gateway}


def cmd_gateway(args: argparse.Namespace) -> int:
    from sinks.gateway import Gateway
    from sinks.server_config import ServerConfigError

    from .config import ConfigError, bus_config, load_config, server_config

    try:
        app = load_config(args.config)
        bus = bus_config(app, args.bus)
        if bus is None:
            raise CliError("a gateway needs a bus: --bus redis://HOST:PORT/DB (or [bus] url)")
        gateway = Gateway(server_config(app, host=args.ws_host, port=args.ws_port), bus)
        gateway.start()
    except (ConfigError, ServerConfigError) as err:
        raise CliError(str(err)) from err
    token = "?token=..." if gateway.server.config.token else ""
    print(f"listenin gateway: events from {bus.where} on {gateway.url}, console at "
          f"{gateway.server.console_url}{token}", file=sys.stderr, flush=True)  # fmt: skip
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        gateway.stop()
    return 0

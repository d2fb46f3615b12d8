"""``listenin front``: one kamailio SIP front dispatching new calls across several nodes.

A node is a ``listenin run`` (devices, pipeline, archive) with its own front,
started with ``--front-source`` naming this front's address so that it trusts
this front and believes its ``X-Listenin-Source`` header (the original peer).
This command runs only kamailio (:class:`softphone.kamailio.KamailioFront` with a
cluster :class:`softphone.front.FrontConfig`): the same edge rules as a node's
front (trust, pike, 513, 488), then each new INVITE to the next live node in
turn, and to the next one on 486, 503 or silence.  The dispatcher's OPTIONS
probes (every second) mark a dead node inactive and a returning one active;
``--nodes-file`` is read again when it changes and kamailio reloads its list
without a restart; a node taken off it is drained (no new calls, its dialogs
still routed).  The front keeps no call state and in-dialog requests follow
each dialog's route, so a lost node ends only its own calls.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from softphone.addresses import hostport

from .options import CliError, verbosity

log = logging.getLogger("listenin")
POLL_S = 0.5  # how often the nodes file is looked at
MAX_DRAINING = 64  # nodes off the list whose dialogs are still routed (drop_oldest)


def add_front_command(sub: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Register ``front`` on the CLI's subparsers; returns its handler."""
    f = sub.add_parser(
        "front",
        help="one SIP front (kamailio) dispatching calls across several `listenin run` nodes",
        description="Run kamailio on --bind/--sip-port with the SIP front's rules and send "
        "each new call to the live node its session id hashes to (so the per-party INVITEs "
        "of one call meet on one node), the next one on 486, 503 or no answer. Start each "
        "node with --front-source BIND:SIP_PORT of this front.",
    )
    f.add_argument("--bind", default="127.0.0.1", help="IP address for SIP")
    f.add_argument("--sip-port", type=int, default=5060, help="UDP port (default 5060)")
    f.add_argument("--tcp-port", type=int, help="also take SIP over TCP")
    f.add_argument("--node", action="append", default=[], metavar="IP:PORT",
                   help="a node's SIP address (its --bind:--sip-port); repeat")  # fmt: skip
    f.add_argument(
        "--nodes-file",
        metavar="FILE",
        help="more nodes, one IP:PORT per line (# comments); read again whenever it "
        "changes, and kamailio's list reloaded without a restart",
    )
    f.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="IP[:PORT]|CIDR",
        help="take INVITEs from this source (repeat; default 127.0.0.1); give the nodes the "
        "same --trust: they judge the original peer again",
    )
    f.add_argument("--front-requests", type=int, default=30, metavar="N",
                   help="requests one untrusted source IP may send per 2 s (pike)")  # fmt: skip
    verbosity(f)
    return {"front": cmd_front}


def parse_nodes(text: str) -> tuple[str, ...]:
    """A nodes file: one ``IP:PORT`` (``[IPv6]:PORT``) per line, ``#`` comments and blank
    lines ignored, duplicates kept once; a ValueError names the first bad line."""
    nodes: list[str] = []
    for n, line in enumerate(text.splitlines(), 1):
        entry = line.split("#", 1)[0].strip()
        if entry:
            try:
                node = hostport(entry)
            except ValueError as err:
                raise ValueError(f"line {n}: {err}") from err
            if node not in nodes:
                nodes.append(node)
    return tuple(nodes)


class NodesFile:
    """The nodes file, looked at again only when its size, time or inode changed."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None

    def read(self) -> tuple[str, ...]:
        """Its nodes now; CliError when it cannot be read or has a bad line."""
        try:
            st = os.stat(self.path)
            self._seen = (st.st_mtime_ns, st.st_size, st.st_ino)
            with open(self.path, encoding="utf-8") as file:
                return parse_nodes(file.read())
        except OSError as err:
            raise CliError(f"--nodes-file {self.path}: {err.strerror}") from err
        except ValueError as err:  # a bad line, or not UTF-8
            raise CliError(f"--nodes-file {self.path}: {err}") from err

    def changed(self) -> tuple[str, ...] | None:
        """Its nodes when it changed since the last read, else None; a file that cannot be
        read or parsed is logged once and the nodes stay as they were."""
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        if (st.st_mtime_ns, st.st_size, st.st_ino) == self._seen:
            return None
        try:
            return self.read()
        except CliError as err:
            log.warning("%s; keeping the nodes as they are", err)
            return None


def _merge(*lists: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(node for nodes in lists for node in nodes))


def draining(
    before: tuple[str, ...], now: tuple[str, ...], drained: tuple[str, ...]
) -> tuple[str, ...]:
    """The nodes to drain once the list goes from ``before`` to ``now``: those taken off it
    (their calls go on, they take no new ones) and those already draining, the most recent
    :data:`MAX_DRAINING`; a node back on the list is no longer draining."""
    off = [node for node in _merge(drained, before) if node not in now]
    return tuple(off[-MAX_DRAINING:])


def cmd_front(args: argparse.Namespace) -> int:
    from softphone.config import ConfigError
    from softphone.front import cluster_config
    from softphone.kamailio import FrontError, KamailioFront, kamailio_binary, kamcmd_binary

    if kamailio_binary() is None:
        raise CliError("listenin front needs kamailio (apt-get install kamailio)")
    watch = NodesFile(args.nodes_file) if args.nodes_file else None
    if watch is None and not args.node:
        raise CliError("give the nodes: --node IP:PORT (repeat) or --nodes-file FILE")
    if watch is not None and kamcmd_binary() is None:
        raise CliError("--nodes-file needs kamcmd (kamailio's RPC client) to reload the list")
    try:
        fixed = _merge(tuple(hostport(node) for node in args.node))
    except ValueError as err:
        raise CliError(f"--node: {err}") from err
    try:
        config = cluster_config(
            args.bind, args.sip_port, _merge(fixed, watch.read() if watch else ()),
            tcp_port=args.tcp_port, trusted=tuple(args.trust) or ("127.0.0.1",),
            pike_requests=args.front_requests,
        )  # fmt: skip
        front = KamailioFront(config)
        front.start()
    except (ConfigError, FrontError) as err:
        raise CliError(str(err)) from err
    nodes = " ".join(config.destinations) or "none yet"
    print(f"listenin front: SIP on {config.public}, nodes {nodes}", file=sys.stderr, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        return _serve(front, watch, fixed, stop)
    except KeyboardInterrupt:
        return 0
    finally:
        front.stop()


def _serve(front, watch: NodesFile | None, fixed: tuple[str, ...], stop) -> int:  # type: ignore[no-untyped-def]
    """Until SIGTERM (0) or kamailio's death (1): take the nodes file's changes, trying
    again on the next poll while kamailio does not take them."""
    from softphone.config import ConfigError
    from softphone.kamailio import FrontError

    wanted, refused = front.config.destinations, None
    while not stop.wait(POLL_S):
        if not front.alive():
            tail = "\n".join(front.lines)
            log.error("kamailio exited with status %s:\n%s", front.returncode, tail)
            return 1
        found = watch.changed() if watch is not None else None
        wanted = _merge(fixed, found) if found is not None else wanted
        before, drained = front.config.destinations, front.config.draining
        if wanted == before:
            continue
        try:
            front.reload(wanted, draining(before, wanted, drained))
        except (FrontError, ConfigError) as err:
            if refused != wanted:  # once per list; kamailio reloads at most once a second
                level = logging.INFO if "Ongoing reload" in str(err) else logging.WARNING
                log.log(level, "the new node list is not taken yet (trying again): %s", err)
            refused = wanted
            continue
        off = " ".join(front.config.draining)
        print(f"listenin front: nodes now {' '.join(wanted) or 'none'}"
              + (f", draining {off}" if off else ""), file=sys.stderr, flush=True)  # fmt: skip
    return 0

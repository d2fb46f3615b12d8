"""``listenin supervise`` and ``listenin groups``: the platform adapters on the command line.

``supervise --platform P --config FILE --session ID`` sends one supervise request;
``--watch`` starts the SIP device like ``listenin run`` and runs the
auto-supervise watcher against the platform.  ``groups ...`` manages RingCentral
call monitoring groups.  The platform's settings are the ``[platforms.P]``
table of the TOML file; secrets come from the environment variables it names.
Every expected failure becomes a :class:`~listenin.options.CliError` (one line,
exit status 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

from .options import (
    FORMATS,
    CliError,
    asr_options,
    device_config,
    device_options,
    output_options,
    verbosity,
)
from .serve import finish, host_calls, serve_until_stopped, start_live

log = logging.getLogger("listenin")

PLATFORMS = ("ringcentral", "ringcx", "genesys", "yeastar")
SESSION_HELP = {
    "ringcentral": "telephonySessionId (the monitored agent is found among the groups' members, "
    "or give --agent)",
    "ringcx": "the call's uii",
    "yeastar": "the monitored extension's channel_id (from a Call Status Changed event)",
}


def add_platform_commands(sub: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Register ``supervise`` and ``groups`` on the CLI's subparsers; returns their handlers."""
    s = sub.add_parser(
        "supervise",
        help="supervise calls on RingCentral, RingCX, Genesys or Yeastar",
        description="Ask a phone platform to send a call's audio to the listenin device: one "
        "call (--session), or watch the platform and supervise every answered call of the "
        "monitored agents, running the device and the live transcript like `listenin run` "
        "(--watch). Settings: the [platforms.NAME] table of the --config file.",
        epilog="examples:\n  listenin supervise --platform ringcentral --config listenin.toml "
        "--watch --bind 10.0.0.5 --registrar sip:sip.ringcentral.com\n  listenin supervise "
        "--platform ringcx --config listenin.toml --session 202005081040440132050000019657",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--platform", choices=PLATFORMS, required=True, help="which platform")
    what = s.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--session",
        metavar="ID",
        help="supervise this one call: " + "; ".join(f"{k}: {v}" for k, v in SESSION_HELP.items()),
    )
    what.add_argument(
        "--watch",
        action="store_true",
        help="run the device and supervise answered calls until stopped",
    )
    s.add_argument("--agent", help="ringcentral --session: the agent's extension id")
    output_options(s)  # --config also holds [platforms.NAME]
    device_options(s)
    s.add_argument("--format", choices=FORMATS, default="text", help="output format")
    s.add_argument("--calls", type=int, help="--watch: exit after this many calls have ended")
    asr_options(s)
    verbosity(s)

    g = sub.add_parser(
        "groups",
        help="RingCentral call monitoring groups: list, create, rename, delete, members",
        description="Manage RingCentral call monitoring groups: who may be monitored "
        "(Monitored: agents) and who may monitor (Monitoring: supervisors). Settings: the "
        "[platforms.ringcentral] table of the --config file.",
    )
    gs = g.add_subparsers(dest="groups_command", metavar="ACTION", required=True)

    def action(name: str, help_: str) -> argparse.ArgumentParser:
        p = gs.add_parser(name, help=help_, description=help_)
        p.add_argument(
            "--config", metavar="FILE", required=True, help="TOML file with [platforms.ringcentral]"
        )
        verbosity(p)
        return p

    action("list", "list the groups and their members")
    action("create", "create an empty group").add_argument("name")
    p = action("rename", "rename a group")
    p.add_argument("group", help="group id or name")
    p.add_argument("name", help="the new name")
    action("delete", "delete a group").add_argument("group", help="group id or name")
    for name, verb in (("add-members", "add"), ("remove-members", "remove")):
        p = action(name, f"{verb} members (extension ids)")
        p.add_argument("group", help="group id or name")
        if verb == "add":
            p.add_argument(
                "--agent",
                action="append",
                default=[],
                metavar="EXT",
                help="an extension that may be monitored (Monitored); repeat",
            )
            p.add_argument(
                "--supervisor",
                action="append",
                default=[],
                metavar="EXT",
                help="an extension that may monitor (Monitoring); repeat",
            )
        else:
            p.add_argument("extensions", nargs="+", metavar="EXT")
    return {"supervise": cmd_supervise, "groups": cmd_groups}


def load_platform(path: str | None, name: str):  # type: ignore[no-untyped-def]
    """The checked ``[platforms.NAME]`` table of the TOML file at ``path``."""
    from .config import ConfigError, load_config, platform_settings

    if not path:
        raise CliError("give --config FILE (a TOML file with a [platforms.NAME] table)")
    try:
        return platform_settings(load_config(path), name)
    except ConfigError as err:
        raise CliError(str(err)) from err


def _platform(config):  # type: ignore[no-untyped-def]
    from platforms import make_platform
    from platforms.secret import MissingSecret

    try:
        return make_platform(config)
    except MissingSecret as err:
        raise CliError(str(err)) from err


def _call_errors() -> tuple[type[Exception], ...]:
    from platforms.errors import PlatformError

    return (PlatformError,)


# -- supervise ------------------------------------------------------------------------
def cmd_supervise(args: argparse.Namespace) -> int:

    config = load_platform(args.config, args.platform)
    try:
        if args.watch:
            return _watch(args, config)
        return _supervise_one(args, config)
    except _call_errors() as err:
        raise CliError(str(err)) from err


def _supervise_one(args: argparse.Namespace, config) -> int:  # type: ignore[no-untyped-def]
    from platforms import LiveCall

    if args.platform == "genesys":
        raise CliError(
            "genesys: ListenIn arms monitoring of the target device for its next calls; use --watch"
        )
    if args.platform == "ringcentral":  # no subscription for one request
        config = dataclasses.replace(config, events="poll")
    if args.platform == "yeastar":  # no webhook listener for one request
        config = dataclasses.replace(config, webhook_bind="127.0.0.1:0")
    platform = _platform(config)
    platform.open()
    try:
        call = LiveCall(args.session, args.agent or "", "answered", target=args.session)
        if args.platform == "ringcentral":
            call = platform.session_call(args.session, args.agent)
        call = platform.prepare(call)
        sup = platform.supervise(call)
    finally:
        platform.close()
    print(
        json.dumps(
            {
                "platform": args.platform,
                "call_id": sup.call_id,
                "legs": sup.legs,
                "handles": list(sup.handles),
            }
        )
    )
    return 0


def _watch(args: argparse.Namespace, config) -> int:  # type: ignore[no-untyped-def]
    import signal

    from platforms import watcher_for
    from platforms.errors import DeviceUnavailable
    from softphone.admission import PartyRoles

    stop = threading.Event()
    platform = _platform(config)
    roles = PartyRoles()
    device = device_config(args)
    capacity = host_calls(args, device)  # SIP calls: the device pool's size
    watcher = watcher_for(platform, config, capacity, roles=roles, sleep=stop.wait)
    # events carry the platform's call id (RingCX uii, ...) once the watcher knows it
    job, pipeline, out = start_live(args, device, roles, watcher.call_for)
    previous = job.on_device_event

    def on_device_event(event: Any) -> None:
        if previous is not None:
            previous(event)
        watcher.device_event(event)

    job.on_device_event = on_device_event
    print(
        f"listenin: device {device.account.user}@{job.address} ready; watching {args.platform}",
        file=sys.stderr,
        flush=True,
    )
    failure: list[BaseException] = []

    def run() -> None:
        try:
            for attempt in range(3):  # the device may still be registering (not yet Online)
                try:
                    platform.open()
                    break
                except DeviceUnavailable as err:
                    if attempt == 2:
                        raise
                    log.warning("%s; retrying in 5 s", err)
                    if stop.wait(5):
                        return
            watcher.run(stop.is_set, open_platform=False)
        except BaseException as err:  # reported by the main thread
            failure.append(err)
            stop.set()

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    thread = threading.Thread(target=run, name="platform-watcher", daemon=True)
    thread.start()
    try:
        status = serve_until_stopped(job, stop, args.calls)
    finally:
        stop.set()
        thread.join(15)
        finish(job, pipeline, out)
    if failure:
        if isinstance(failure[0], _call_errors()):
            raise failure[0]
        raise CliError(f"the {args.platform} watcher failed: {failure[0]!r}")
    return status


# -- groups -----------------------------------------------------------------------------
def cmd_groups(args: argparse.Namespace) -> int:
    from platforms.monitoring import Assignment

    rc = _platform(load_platform(args.config, "ringcentral"))
    groups = rc.groups
    try:
        action = args.groups_command
        if action == "list":
            for g in groups.list():
                print(f"{g.id}\t{g.name}")
                for m in groups.members(g.id):
                    print(f"  {m.extension_id}\t{m.extension_number}\t{','.join(m.permissions)}")
        elif action == "create":
            g = groups.create(args.name)
            print(f"{g.id}\t{g.name}")
        elif action == "rename":
            g = groups.rename(groups.resolve(args.group).id, args.name)
            print(f"{g.id}\t{g.name}")
        elif action == "delete":
            groups.delete(groups.resolve(args.group).id)
        elif action == "add-members":
            perms: dict[str, list[str]] = {}
            for ext in args.supervisor:
                perms.setdefault(ext, []).append("Monitoring")
            for ext in args.agent:
                perms.setdefault(ext, []).append("Monitored")
            if not perms:
                raise CliError("give at least one --agent EXT or --supervisor EXT")
            gid = groups.resolve(args.group).id
            groups.assign(gid, added=[Assignment(e, tuple(p)) for e, p in perms.items()])
        elif action == "remove-members":
            groups.assign(groups.resolve(args.group).id, removed=args.extensions)
    except _call_errors() as err:
        raise CliError(str(err)) from err
    return 0

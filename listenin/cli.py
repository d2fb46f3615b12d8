"""Command-line interface: ``listenin run | demo | transcribe | models | supervise | groups |
gateway | front | check``.

Parses flags and environment only here, at the edge (the shared options live in
:mod:`listenin.options`), and turns every expected failure (missing file,
unreadable audio, unknown model, a setting that cannot work) into one line on
stderr and exit status 2, before anything starts.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from models import ModelError, available
from records.kinds import MIXED_LABEL, StreamKind

from . import __version__
from .check_cli import add_check_command
from .front_cli import add_front_command
from .gateway_cli import add_gateway_command
from .logs import LOG_FORMATS, setup_logging
from .options import (
    FORMATS,
    CliError,
    asr_options,
    check_common,
    device_config,
    device_options,
    output_options,
    verbosity,
)
from .platform_cli import add_platform_commands
from .replay import InputError, load_party
from .serve import finish, front_rules, run_replay, serve_until_stopped, start_live

__all__ = ["CliError", "build_parser", "main"]

log = logging.getLogger("listenin")

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _party_arg(value: str) -> tuple[str, str]:
    label, sep, path = value.partition("=")
    if not sep or not label or not path:
        raise argparse.ArgumentTypeError(f"expected LABEL=FILE.wav, got {value!r}")
    return label, path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="listenin",
        description="Listen in on live phone calls: live, speaker-labelled transcripts.",
    )
    parser.add_argument("--version", action="version", version=f"listenin {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)"
    )
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="text",
        help="log lines as text (default) or one JSON object per line, for log shippers",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser(
        "transcribe",
        help="run WAV files through the live pipeline",
        description="Run recorded parties through exactly the live pipeline.",
    )
    t.add_argument(
        "--party",
        action="append",
        type=_party_arg,
        default=[],
        metavar="LABEL=FILE",
        help="a party's mono audio file (repeat per party), e.g. agent=agent.wav",
    )
    t.add_argument(
        "--mixed",
        metavar="FILE",
        help="the whole call mixed in one mono file: speakers are labelled by diarization",
    )
    t.add_argument("--realtime", action="store_true", help="feed at the pace of a live call")
    t.add_argument("--format", choices=FORMATS, default="text", help="output format")
    t.add_argument("--call-id", default="replay", help="call id carried by the events")
    t.add_argument(
        "--config",
        metavar="FILE",
        help="TOML configuration file: its [[webhooks]], [[alerts]] and [redaction] apply to "
        "the recording too (see README)",
    )
    asr_options(t)

    m = sub.add_parser("models", help="list the speech models available")

    r = sub.add_parser(
        "run",
        help="the main job: a SIP supervisor device feeding live transcripts",
        description="Register (optionally) as a SIP supervisor device, auto-answer supervise "
        "calls from trusted peers and print each party's live transcript.",
    )
    device_options(r)
    output_options(r)
    r.add_argument("--format", choices=FORMATS, default="text", help="output format")
    r.add_argument("--calls", type=int, help="exit after this many calls have ended")
    r.add_argument(
        "--print-front-config",
        action="store_true",
        help="print the kamailio.cfg of the SIP front for these options and exit (its own "
        "loopback socket 127.0.0.1:SIP_PORT+1, devices on SIP_PORT+2, ...; the dispatcher "
        "list is in its last lines)",
    )
    asr_options(r)

    d = sub.add_parser(
        "demo",
        help="a simulated platform calls the device over SIP on loopback; transcript on screen",
        description="Start the device on loopback, have the platform simulator (pbxsim) place "
        "a RingCentral-style supervise call playing the bundled fixture as RTP, and print the "
        "live, party-labelled transcript.",
    )
    output_options(d)
    d.add_argument("--format", choices=FORMATS, default="text")
    d.add_argument(
        "--fixture",
        default="call2",
        help="bundled fixture: call2 (real recorded voices, the default), call1 (espeak-ng, "
        "synthetic: for timing)",
    )
    d.add_argument(
        "--form",
        choices=("two-streams", "per-party", "headers"),
        default="two-streams",
        help="how the simulator supervises (see pbxsim)",
    )
    d.add_argument("--seconds", type=float, help="play only this much of the fixture")
    d.add_argument(
        "--replay", action="store_true", help="skip SIP: replay the WAVs straight into the pipeline"
    )
    asr_options(d)
    parser.set_defaults(platform_commands=add_platform_commands(sub))  # supervise, groups
    parser.set_defaults(gateway_command=add_gateway_command(sub))
    parser.set_defaults(front_command=add_front_command(sub))
    parser.set_defaults(check_command=add_check_command(sub))
    for p in (t, m, r, d):
        verbosity(p)
    return parser


def cmd_transcribe(args: argparse.Namespace) -> int:
    if args.mixed:
        if args.party:
            raise CliError("give either --mixed FILE or --party LABEL=FILE, not both")
        return run_replay(
            args, [load_party(MIXED_LABEL, args.mixed, StreamKind.MIXED)], args.realtime
        )
    if args.first_speaker:
        raise CliError("--first-speaker needs --mixed")
    if not args.party:
        raise CliError("give at least one --party LABEL=FILE (or --mixed FILE)")
    labels = [label for label, _ in args.party]
    if len(set(labels)) != len(labels):
        raise CliError("each --party label must be unique")
    parties = [load_party(label, path) for label, path in args.party]
    return run_replay(args, parties, args.realtime)


def cmd_models(args: argparse.Namespace) -> int:
    for info, path in available():
        where = str(path) if path else "not installed: pip install " + " ".join(info.packages)
        print(f"{info.name:10s} {info.description:40s} {where}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import signal
    import threading

    config = device_config(args)
    if args.print_front_config:
        return print_front_config(args, config)
    job, pipeline, outputs = start_live(args, config)
    registrar = config.account.registrar
    mode = f"registering with {registrar}" if registrar else "not registering"
    if job.front is not None:
        ports = ",".join(map(str, job.device_ports))
        mode += f"; SIP front kamailio, {job.capacity} calls, devices on 127.0.0.1:{ports}"
    print(f"listenin: device {config.account.user}@{job.address} ready ({mode})",
          file=sys.stderr, flush=True)  # fmt: skip
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        status = serve_until_stopped(job, stop, args.calls)
    finally:
        finish(job, pipeline, outputs)
    return status


def print_front_config(args: argparse.Namespace, config) -> int:  # type: ignore[no-untyped-def]
    """The front's kamailio.cfg for an operator's own kamailio, its dispatcher list in a
    comment: run each device with ``--front none --bind 127.0.0.1 --sip-port PORT
    --front-source 127.0.0.1:SIP_PORT+1`` on the ports the list names."""
    from softphone.config import ConfigError
    from softphone.front import DEVICES_LIST, front_config, render_config, render_destinations
    from softphone.pool import split_calls

    from .serve import host_calls

    port = config.transport.udp_port or 5070
    try:
        processes = len(split_calls(host_calls(args, config)))
        ports = tuple(range(port + 2, port + 2 + processes))
        front = front_config(config, ports, port + 1, **front_rules(args))
        listing = "".join(f"# {line}\n" for line in render_destinations(front).splitlines())
        print(f"{render_config(front)}\n# {DEVICES_LIST} (without the '# '):\n{listing}", end="")
    except ConfigError as err:
        raise CliError(str(err)) from err
    return 0


def _fixture(name: str) -> dict:  # type: ignore[type-arg]
    path = FIXTURES / f"{name}.json"
    if "/" in name or not path.is_file():
        known = ", ".join(sorted(f.stem for f in FIXTURES.glob("*.json")))
        raise CliError(f"no bundled fixture {name!r}: use one of {known}")
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def cmd_demo(args: argparse.Namespace) -> int:
    import subprocess

    from softphone.admission import PartyRoles
    from softphone.config import AdmissionConfig, DeviceConfig, TransportConfig

    ref = _fixture(args.fixture)
    if args.replay:
        parties = [load_party(p, FIXTURES / f) for p, f in ref["parties"].items()]
        args.call_id = "demo-call"
        print(f"listenin demo: replaying {ref['description']} ({ref['duration']:.0f} s) "
              "at live pace", file=sys.stderr)  # fmt: skip
        return run_replay(args, parties, realtime=True)
    roles = PartyRoles()  # what a platform adapter learns when it asks to supervise
    for n, role in enumerate(ref["parties"], 1):
        roles.set("demo-1", f"demo-1-{n}", role)
    config = DeviceConfig(
        transport=TransportConfig(udp_port=0, rtp_port=0),
        admission=AdmissionConfig(trusted=("127.0.0.1",)),
        log_level=0,
    )
    job, pipeline, outputs = start_live(args, config, roles)
    seconds = args.seconds or ref["duration"]
    print(f"listenin demo: device at {job.address}; the simulator now places a "
          f"{args.form} supervise call playing {ref['description']} ({seconds:.0f} s) over "
          "SIP/RTP", file=sys.stderr, flush=True)  # fmt: skip
    cmd = [sys.executable, "-m", "pbxsim", f"sip:listenin@{job.address}", "--fixture",
           args.fixture, "--form", args.form, "--session-prefix", "demo"]  # fmt: skip
    if args.seconds:
        cmd += ["--seconds", str(args.seconds)]
    root = Path(__file__).resolve().parent.parent
    try:
        sim = subprocess.Popen(cmd, cwd=root, stdout=subprocess.DEVNULL)
        job.wait_calls_ended(1, seconds + 60)
        sim.wait(10)
    finally:
        finish(job, pipeline, outputs)
    if sim.returncode:
        raise CliError(f"the simulator exited with status {sim.returncode}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose + getattr(args, "sub_verbose", 0), args.log_format)
    commands = {"transcribe": cmd_transcribe, "models": cmd_models, "demo": cmd_demo,
                "run": cmd_run}  # fmt: skip
    commands.update(args.platform_commands)
    commands.update(args.gateway_command)
    commands.update(args.front_command)
    commands.update(args.check_command)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        check_common(args)
        return commands[args.command](args)
    except (CliError, InputError, ModelError) as err:
        print(f"listenin: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130

"""Command-line interface: ``listenin run | demo | transcribe | models``.

Parses flags and environment only here, at the edge, and turns every expected
failure (missing file, unreadable audio, unknown model) into one line on
stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from models import ModelError, available, resolve
from records.kinds import MIXED_LABEL, StreamKind

from . import __version__
from .platform_cli import add_platform_commands
from .replay import InputError, PartyAudio, load_party, replay

log = logging.getLogger("listenin")

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


class CliError(Exception):
    pass


def _party_arg(value: str) -> tuple[str, str]:
    label, sep, path = value.partition("=")
    if not sep or not label or not path:
        raise argparse.ArgumentTypeError(f"expected LABEL=FILE.wav, got {value!r}")
    return label, path


def asr_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("speech recognition")
    g.add_argument(
        "--model",
        default=os.environ.get("LISTENIN_MODEL", "tiny.en"),
        help="tiny.en (default), base, or a CTranslate2 Whisper folder",
    )
    g.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 2,
        help="ASR worker threads (default: one per core)",
    )
    g.add_argument("--language", default="en", help="language for multilingual models, or 'auto'")
    g.add_argument(
        "--first-speaker",
        choices=("agent", "customer"),
        help="mixed (one-stream) calls: who speaks first, to label diarized speakers "
        "agent/customer instead of speaker_1, speaker_2",
    )


def pipeline_config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The pipeline's config from the speech options (workers, diarization roles)."""
    from pipeline.diarize import DiarizeConfig
    from pipeline.party import StreamConfig
    from pipeline.runtime import PipelineConfig

    first = getattr(args, "first_speaker", None)
    roles = (first, "customer" if first == "agent" else "agent") if first else ()
    stream = StreamConfig(diarize=DiarizeConfig(roles=roles))
    return PipelineConfig(stream, asr_workers=args.workers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="listenin",
        description="Listen in on live phone calls: live, speaker-labelled transcripts.",
    )
    parser.add_argument("--version", action="version", version=f"listenin {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)"
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
    t.add_argument("--format", choices=("text", "jsonl"), default="text", help="output format")
    t.add_argument("--call-id", default="replay", help="call id carried by the events")
    asr_options(t)

    sub.add_parser("models", help="list the speech models available")

    r = sub.add_parser(
        "run",
        help="the main job: a SIP supervisor device feeding live transcripts",
        description="Register (optionally) as a SIP supervisor device, auto-answer supervise "
        "calls from trusted peers and print each party's live transcript.",
    )
    device_options(r)
    output_options(r)
    r.add_argument("--format", choices=("text", "jsonl"), default="text", help="output format")
    r.add_argument("--calls", type=int, help="exit after this many calls have ended")
    asr_options(r)

    d = sub.add_parser(
        "demo",
        help="a simulated platform calls the device over SIP on loopback; transcript on screen",
        description="Start the device on loopback, have the platform simulator (pbxsim) place "
        "a RingCentral-style supervise call playing the bundled fixture as RTP, and print the "
        "live, party-labelled transcript.",
    )
    output_options(d)
    d.add_argument("--format", choices=("text", "jsonl"), default="text")
    d.add_argument("--fixture", default="call1", help="bundled fixture (call1, call2)")
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
    return parser


def device_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("SIP device")
    g.add_argument("--bind", default="127.0.0.1", help="address for SIP and RTP")
    g.add_argument("--sip-port", type=int, default=5070, help="UDP port (0: any free port)")
    g.add_argument("--tcp-port", type=int, help="also listen on TCP")
    g.add_argument("--tls-port", type=int, help="also listen on TLS (needs --tls-cert/--tls-key)")
    g.add_argument("--tls-cert")
    g.add_argument("--tls-key")
    g.add_argument("--rtp-port", type=int, default=40000, help="first RTP port (0: any)")
    g.add_argument("--user", default="listenin", help="the device's SIP user")
    g.add_argument("--domain", help="SIP domain (default: the registrar host or --bind)")
    g.add_argument("--registrar", help="register here, e.g. sip:pbx.example.com")
    g.add_argument("--proxy", help="outbound proxy URI")
    g.add_argument("--auth-user", help="digest user name, when it differs from --user")
    g.add_argument("--register-expires", type=int, default=300, help="seconds")
    g.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="HOST[:PORT]|CIDR",
        help="answer INVITEs from here (repeat; default 127.0.0.1; the registrar "
        "and proxy hosts are trusted too)",
    )
    g.add_argument(
        "--require-id",
        action="store_true",
        help="refuse INVITEs that do not name a supervised session (403)",
    )
    g.add_argument(
        "--codec",
        action="append",
        choices=("PCMU", "PCMA", "G722"),
        help="codecs in order of preference (default PCMU PCMA G722)",
    )
    g.add_argument("--srtp", choices=("off", "optional", "mandatory"), default="optional")
    g.add_argument("--jb-min-ms", type=int, default=120, help="jitter buffer minimum prefetch")
    g.add_argument("--jb-max-ms", type=int, default=300, help="jitter buffer maximum prefetch")
    g.add_argument("--max-calls", type=int, default=4, help="at most 4 (pjsua2 wheel limit)")
    g.add_argument("--pjsip-log-level", type=int, default=0, help="PJSIP's own log (0-6)")
    # the password comes from the environment only: LISTENIN_SIP_PASSWORD


def device_config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from softphone.config import (
        AccountConfig,
        AdmissionConfig,
        ConfigError,
        DeviceConfig,
        JitterConfig,
        MediaConfig,
        TransportConfig,
    )

    try:
        domain = args.domain
        if domain is None and args.registrar:
            domain = args.registrar.split(":", 1)[1].split(";")[0].split(":")[0]
        account = AccountConfig(
            user=args.user, domain=domain or args.bind,
            password=os.environ.get("LISTENIN_SIP_PASSWORD", ""), registrar=args.registrar,
            proxy=args.proxy, auth_user=args.auth_user, register_expires_s=args.register_expires,
        )  # fmt: skip
        init = min(max(args.jb_min_ms + 40, args.jb_min_ms), args.jb_max_ms)
        jitter = JitterConfig(init, args.jb_min_ms, args.jb_max_ms, max(1000, args.jb_max_ms * 2))
        return DeviceConfig(
            account=account,
            transport=TransportConfig(
                args.bind,
                args.sip_port,
                args.tcp_port,
                args.tls_port,
                args.tls_cert,
                args.tls_key,
                args.rtp_port,
            ),  # fmt: skip
            admission=AdmissionConfig(
                trusted=tuple(args.trust) or ("127.0.0.1",),
                require_identification=args.require_id,
                max_calls=args.max_calls,
            ),
            media=MediaConfig(
                codecs=tuple(args.codec or ("PCMU", "PCMA", "G722")),
                srtp=args.srtp,
                jitter=jitter,
            ),  # fmt: skip
            log_level=args.pjsip_log_level,
        )
    except ConfigError as err:
        raise CliError(str(err)) from err


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _engine(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from pipeline.asr import WhisperConfig, WhisperEngine

    if args.workers < 1:
        raise CliError("--workers must be >= 1")
    path = resolve(args.model)
    language = None if args.language == "auto" else args.language
    log.info("loading model %s from %s", args.model, path)
    return WhisperEngine(path, WhisperConfig(num_workers=args.workers, language=language))


def _run_replay(args: argparse.Namespace, parties: list[PartyAudio], realtime: bool) -> int:
    from pipeline.runtime import Pipeline
    from sinks.terminal import CallClockOrder, JsonlRenderer, TextRenderer

    from .progress import progress_bar

    engine = _engine(args)
    renderer: JsonlRenderer | TextRenderer | CallClockOrder = (
        JsonlRenderer() if args.format == "jsonl" else TextRenderer()
    )
    if args.format != "jsonl" and not realtime:  # offline: lines in call-clock order
        renderer = CallClockOrder(renderer)
    pipeline = Pipeline(engine, renderer, pipeline_config(args))
    progress = None if realtime or not sys.stderr.isatty() else progress_bar()
    try:
        replay(pipeline, args.call_id, parties, realtime=realtime, progress=progress)
    finally:
        pipeline.close()
        renderer.close()
    if pipeline.stats.dropped_frames:
        log.warning("%d frames dropped", pipeline.stats.dropped_frames)
    return 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    if args.mixed:
        if args.party:
            raise CliError("give either --mixed FILE or --party LABEL=FILE, not both")
        return _run_replay(
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
    return _run_replay(args, parties, args.realtime)


def cmd_models(args: argparse.Namespace) -> int:
    for info, path in available():
        where = str(path) if path else "not installed: pip install " + " ".join(info.packages)
        print(f"{info.name:10s} {info.description:40s} {where}")
    return 0


def output_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("outputs (websocket API, web console, recordings)")
    g.add_argument("--config", metavar="FILE", help="TOML configuration file (see README)")
    g.add_argument("--ws-host", help="websocket/console address (default 127.0.0.1)")
    g.add_argument("--ws-port", type=int, help="websocket/console port (default 8765, 0: any)")
    g.add_argument("--no-server", action="store_true", help="do not serve websockets/console")
    g.add_argument("--archive", metavar="DIR", help="record WAVs and transcripts under DIR")
    # the websocket bearer token comes from the environment only: LISTENIN_WS_TOKEN


def _outputs(args: argparse.Namespace, renderer):  # type: ignore[no-untyped-def]
    from sinks.server import ServerConfigError

    from .config import ConfigError, archive_config, load_config, server_config
    from .service import Outputs

    try:
        app = load_config(args.config)
        server = None
        if not args.no_server:
            server = server_config(app, host=args.ws_host, port=args.ws_port)
        outputs = Outputs(server, archive_config(app, args.archive), renderer)
        outputs.start()
    except (ConfigError, ServerConfigError) as err:
        raise CliError(str(err)) from err
    if outputs.server is not None:
        token = "?token=..." if outputs.server.config.token else ""
        print(f"listenin: events on {outputs.server.url}, console at "
              f"{outputs.server.console_url}{token}", file=sys.stderr, flush=True)  # fmt: skip
    if outputs.archive is not None:
        print(f"listenin: recording to {outputs.archive.config.root}", file=sys.stderr)
    return outputs


def _live(args: argparse.Namespace, config, roles=None, names=None):  # type: ignore[no-untyped-def]
    from pipeline.runtime import Pipeline
    from sinks.terminal import JsonlRenderer, TextRenderer
    from softphone.device import DeviceError

    from .live import LiveJob

    outputs = _outputs(args, JsonlRenderer() if args.format == "jsonl" else TextRenderer())
    engine = _engine(args)
    pipeline = Pipeline(engine, outputs.on_event, pipeline_config(args))
    job = LiveJob(pipeline, config, roles, outputs.on_device_event, outputs.on_audio, names)
    outputs.add_listener(job.note_event)
    try:
        job.start()
    except DeviceError as err:
        pipeline.close()
        outputs.close()
        raise CliError(str(err)) from err
    return job, pipeline, outputs


def _finish(job, pipeline, outputs) -> None:  # type: ignore[no-untyped-def]
    job.stop()
    pipeline.pool.wait_idle(30)
    pipeline.close()
    outputs.close()
    if outputs.renderer is not None:
        outputs.renderer.close()


def cmd_run(args: argparse.Namespace) -> int:
    import signal
    import threading

    config = device_config(args)
    job, pipeline, outputs = _live(args, config)
    registrar = config.account.registrar
    mode = f"registering with {registrar}" if registrar else "not registering"
    print(f"listenin: device {config.account.user}@{job.address} ready ({mode})",
          file=sys.stderr, flush=True)  # fmt: skip
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        serve_until_stopped(job, stop, args.calls)
    finally:
        _finish(job, pipeline, outputs)
    return 0


def serve_until_stopped(job, stop, calls: int | None) -> None:  # type: ignore[no-untyped-def]
    """Block until ``stop`` is set, Ctrl-C, or ``calls`` calls have ended."""
    try:
        while not stop.is_set():
            if calls is not None and job.wait_calls_ended(calls, 0.2):
                return
            stop.wait(0.2)
    except KeyboardInterrupt:
        pass


def cmd_demo(args: argparse.Namespace) -> int:
    import subprocess

    from softphone.admission import PartyRoles
    from softphone.config import AdmissionConfig, DeviceConfig, TransportConfig

    ref = json.loads((FIXTURES / f"{args.fixture}.json").read_text())
    if args.replay:
        parties = [load_party(p, FIXTURES / f) for p, f in ref["parties"].items()]
        args.call_id = "demo-call"
        print(f"listenin demo: replaying {ref['description']} ({ref['duration']:.0f} s) "
              "at live pace", file=sys.stderr)  # fmt: skip
        return _run_replay(args, parties, realtime=True)
    roles = PartyRoles()  # what a platform adapter learns when it asks to supervise
    for n, role in enumerate(ref["parties"], 1):
        roles.set("demo-1", f"demo-1-{n}", role)
    config = DeviceConfig(
        transport=TransportConfig(udp_port=0, rtp_port=0),
        admission=AdmissionConfig(trusted=("127.0.0.1",)),
        log_level=0,
    )
    job, pipeline, outputs = _live(args, config, roles)
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
        _finish(job, pipeline, outputs)
    if sim.returncode:
        raise CliError(f"the simulator exited with status {sim.returncode}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    commands = {"transcribe": cmd_transcribe, "models": cmd_models, "demo": cmd_demo,
                "run": cmd_run}  # fmt: skip
    commands.update(args.platform_commands)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return commands[args.command](args)
    except (CliError, InputError, ModelError) as err:
        print(f"listenin: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130

"""Command-line interface: ``listenin transcribe | models | demo``.

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

from . import __version__
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

    def asr_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--model",
            default=os.environ.get("LISTENIN_MODEL", "tiny.en"),
            help="tiny.en (default), base, or a CTranslate2 Whisper folder",
        )
        p.add_argument(
            "--workers",
            type=int,
            default=os.cpu_count() or 2,
            help="ASR worker threads (default: one per core)",
        )
        p.add_argument(
            "--language", default="en", help="language for multilingual models, or 'auto'"
        )

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
    t.add_argument("--realtime", action="store_true", help="feed at the pace of a live call")
    t.add_argument("--format", choices=("text", "jsonl"), default="text", help="output format")
    t.add_argument("--call-id", default="replay", help="call id carried by the events")
    asr_options(t)

    sub.add_parser("models", help="list the speech models available")

    d = sub.add_parser("demo", help="replay the bundled call at live pace, transcript on screen")
    d.add_argument("--format", choices=("text", "jsonl"), default="text")
    asr_options(d)
    return parser


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
    from pipeline.runtime import Pipeline, PipelineConfig

    from .render import JsonlRenderer, TextRenderer, progress_bar

    engine = _engine(args)
    renderer = JsonlRenderer() if args.format == "jsonl" else TextRenderer()
    pipeline = Pipeline(engine, renderer, PipelineConfig(asr_workers=args.workers))
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
    if not args.party:
        raise CliError("give at least one --party LABEL=FILE")
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


def cmd_demo(args: argparse.Namespace) -> int:
    ref = json.loads((FIXTURES / "call1.json").read_text())
    parties = [load_party(p, FIXTURES / f) for p, f in ref["parties"].items()]
    args.call_id = "demo-call"
    print(
        f"listenin demo: replaying {ref['description']} ({ref['duration']:.0f} s) at live pace",
        file=sys.stderr,
    )
    return _run_replay(args, parties, realtime=True)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    commands = {"transcribe": cmd_transcribe, "models": cmd_models, "demo": cmd_demo}
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

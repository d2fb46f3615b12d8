"""Running the live job for ``run``, ``demo`` and ``supervise --watch``.

Outputs (terminal, websocket server, archive) start first, then the model, then
the SIP device; :func:`finish` tears them down in the reverse order.  Every
expected failure is a :class:`~listenin.options.CliError`.
"""

from __future__ import annotations

import argparse
import logging
import sys

from models import resolve

from .options import CliError, pipeline_config
from .replay import PartyAudio, replay

log = logging.getLogger("listenin")


def engine(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from pipeline.asr import WhisperConfig, WhisperEngine

    path = resolve(args.model)
    language = None if args.language == "auto" else args.language
    log.info("loading model %s from %s", args.model, path)
    return WhisperEngine(path, WhisperConfig(num_workers=args.workers, language=language))


def renderer(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from sinks.terminal import JsonlRenderer, TextRenderer

    return JsonlRenderer() if args.format == "jsonl" else TextRenderer()


def run_replay(args: argparse.Namespace, parties: list[PartyAudio], realtime: bool) -> int:
    from pipeline.runtime import Pipeline
    from sinks.terminal import CallClockOrder

    from .progress import progress_bar

    out = renderer(args)
    if args.format != "jsonl" and not realtime:  # offline: text lines in call-clock order
        out = CallClockOrder(out)
    pipeline = Pipeline(engine(args), out, pipeline_config(args))
    progress = None if realtime or not sys.stderr.isatty() else progress_bar()
    try:
        replay(pipeline, args.call_id, parties, realtime=realtime, progress=progress)
    finally:
        pipeline.close()
        out.close()
    if pipeline.stats.dropped_frames:
        log.warning("%d frames dropped", pipeline.stats.dropped_frames)
    return 0


def outputs(args: argparse.Namespace, on_screen):  # type: ignore[no-untyped-def]
    from sinks.server import ServerConfigError

    from .config import ConfigError, archive_config, bus_config, load_config, server_config
    from .service import Outputs

    try:
        app = load_config(args.config)
        server = None
        if not args.no_server:
            server = server_config(app, host=args.ws_host, port=args.ws_port)
        archive = archive_config(app, args.archive, check_root=True)
        bus = bus_config(app, getattr(args, "bus", None))
        if bus is not None and server is None:
            raise CliError("--no-server with a bus: the node's server numbers the events "
                           "(bind it to 127.0.0.1 instead)")  # fmt: skip
        out = Outputs(server, archive, on_screen, bus)
        out.start()
    except (ConfigError, ServerConfigError) as err:
        raise CliError(str(err)) from err
    if out.server is not None:
        token = "?token=..." if out.server.config.token else ""
        print(f"listenin: events on {out.server.url}, console at "
              f"{out.server.console_url}{token}", file=sys.stderr, flush=True)  # fmt: skip
    if out.bus is not None:
        print(f"listenin: publishing to the bus {out.bus.config.where}", file=sys.stderr)
    if out.archive is not None:
        print(f"listenin: recording to {out.archive.config.root}", file=sys.stderr)
    return out


def check_ports(config) -> None:  # type: ignore[no-untyped-def]
    """Refuse SIP ports another process holds, with one clear line (not PJSIP's log)."""
    import socket

    t = config.transport
    wanted = [(t.udp_port, socket.SOCK_DGRAM, "UDP"), (t.tcp_port, socket.SOCK_STREAM, "TCP"),
              (t.tls_port, socket.SOCK_STREAM, "TLS")]  # fmt: skip
    for port, kind, name in wanted:
        if not port:
            continue
        family = socket.AF_INET6 if ":" in t.bind_address else socket.AF_INET
        with socket.socket(family, kind) as sock:
            if kind == socket.SOCK_STREAM:  # TIME_WAIT leftovers are no conflict; a listener is
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((t.bind_address, port))
            except OSError as err:
                raise CliError(f"SIP {name} port {t.bind_address}:{port}: {err.strerror} "
                               "(another listenin or SIP program?)") from err  # fmt: skip


def start_live(args: argparse.Namespace, config, roles=None, names=None):  # type: ignore[no-untyped-def]
    """Outputs, model, pipeline and the started SIP device: ``(job, pipeline, outputs)``."""
    from pipeline.runtime import Pipeline
    from softphone.device import DeviceError

    from .live import LiveJob

    check_ports(config)
    out = outputs(args, renderer(args))
    try:
        pipeline = Pipeline(engine(args), out.on_event, pipeline_config(args))
    except BaseException:
        out.close()
        raise
    job = LiveJob(pipeline, config, roles, out.on_device_event, out.on_audio, names)
    out.add_listener(job.note_event)
    try:
        job.start()
    except DeviceError as err:
        pipeline.close()
        out.close()
        raise CliError(str(err)) from err
    return job, pipeline, out


def finish(job, pipeline, outputs) -> None:  # type: ignore[no-untyped-def]
    job.stop()
    pipeline.pool.wait_idle(30)
    pipeline.close()
    outputs.close()
    if outputs.renderer is not None:
        outputs.renderer.close()


def serve_until_stopped(job, stop, calls: int | None) -> None:  # type: ignore[no-untyped-def]
    """Block until ``stop`` is set, Ctrl-C, or ``calls`` calls have ended."""
    try:
        while not stop.is_set():
            if calls is not None and job.wait_calls_ended(calls, 0.2):
                return
            stop.wait(0.2)
    except KeyboardInterrupt:
        pass

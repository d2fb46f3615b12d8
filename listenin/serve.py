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

from .options import CliError, load_config, pipeline_config
from .replay import PartyAudio, replay

log = logging.getLogger("listenin")


def engine(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from pipeline.asr import WhisperConfig, WhisperEngine

    path = resolve(args.model)
    language = None if args.language == "auto" else args.language
    log.info("loading model %s from %s", args.model, path)
    config = WhisperConfig(device=args.asr_device, compute_type=args.compute_type,
                           num_workers=args.workers, language=language,
                           min_encode_ms=getattr(args, "min_encode_ms", 15000))  # fmt: skip
    return WhisperEngine(path, config)


def renderer(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from sinks.terminal import JsonlRenderer, TextRenderer

    return JsonlRenderer() if args.format == "jsonl" else TextRenderer()


def run_replay(args: argparse.Namespace, parties: list[PartyAudio], realtime: bool) -> int:
    from pipeline.runtime import Pipeline
    from sinks.terminal import CallClockOrder

    from .config import ConfigError, load_config, webhooks_config
    from .progress import progress_bar
    from .service import Outputs

    screen = renderer(args)
    if args.format != "jsonl" and not realtime:  # offline: text lines in call-clock order
        screen = CallClockOrder(screen)
    try:  # the same outputs as a live call: redaction, alerts, webhooks
        app = load_config(getattr(args, "config", None))
        out = Outputs(renderer=screen, webhooks=webhooks_config(app, None), alerts=app.alerts,
                      redaction=app.redaction, live=realtime)  # fmt: skip
    except ConfigError as err:
        raise CliError(str(err)) from err
    out.start()
    pipeline = Pipeline(engine(args), out.on_event, pipeline_config(args))
    progress = None if realtime or not sys.stderr.isatty() else progress_bar()
    try:
        replay(pipeline, args.call_id, parties, realtime=realtime, progress=progress)
    finally:
        pipeline.close()
        out.close()
        if out.renderer is not None:
            out.renderer.close()
    if pipeline.stats.dropped_frames:
        log.warning("%d frames dropped", pipeline.stats.dropped_frames)
    return 0


def outputs(args: argparse.Namespace, on_screen):  # type: ignore[no-untyped-def]
    from sinks.server import ServerConfigError

    from .config import (
        ConfigError,
        archive_config,
        bus_config,
        load_config,
        server_config,
        webhooks_config,
    )
    from .logs import redact_env
    from .service import Outputs

    try:
        app = load_config(args.config)
        redact_env(*secret_envs(app))  # the file may name other variables: kept out of logs
        server = None
        if not args.no_server:
            server = server_config(app, host=args.ws_host, port=args.ws_port)
        archive = archive_config(app, args.archive, check_root=True)
        bus = bus_config(app, getattr(args, "bus", None))
        if bus is not None and server is None:
            raise CliError("--no-server with a bus: the node's server numbers the events "
                           "(bind it to 127.0.0.1 instead)")  # fmt: skip
        hooks = webhooks_config(app, archive.root if archive is not None else None)
        out = Outputs(server, archive, on_screen, bus, webhooks=hooks, alerts=app.alerts,
                      redaction=app.redaction)  # fmt: skip
        out.start()
    except (ConfigError, ServerConfigError) as err:
        raise CliError(str(err)) from err
    if out.server is not None:
        token = "?token=..." if out.server.config.token else ""
        print(f"listenin: events on {out.server.url}, console at "
              f"{out.server.console_url}{token}", file=sys.stderr, flush=True)  # fmt: skip
    if out.bus is not None:
        print(f"listenin: publishing to the bus {out.bus.config.where}", file=sys.stderr)
    if out.webhooks is not None:
        print(f"listenin: posting events to {len(out.webhooks.targets)} webhook(s)",
              file=sys.stderr)  # fmt: skip
    if out.archive is not None:
        print(f"listenin: recording to {out.archive.config.root}", file=sys.stderr)
    return out


def secret_envs(app) -> list[str]:  # type: ignore[no-untyped-def]
    """The environment variables a config file names for its secrets (``*_env`` keys)."""
    from dataclasses import fields

    names = [app.server["token_env"]] if "token_env" in app.server else []
    names += [hook["secret_env"] for hook in app.webhooks if hook.get("secret_env")]
    for config in app.platforms.values():
        names += [getattr(config, f.name) for f in fields(config) if f.name.endswith("_env")]
    return names


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


def front_unavailable(args: argparse.Namespace, config) -> str | None:  # type: ignore[no-untyped-def]
    """Why the kamailio front cannot run for these options, or None when it can."""
    from softphone.kamailio import kamailio_binary

    if getattr(args, "front", "none") == "none":
        return "--front none"
    if config.transport.tls_port is not None:
        return "TLS is not carried by the SIP front"
    if config.transport.udp_port is None:
        return "the SIP front needs a UDP port"
    if kamailio_binary() is None:
        return "kamailio is not installed"
    return None


def front_wanted(args: argparse.Namespace, config) -> bool:  # type: ignore[no-untyped-def]
    """Whether the device runs behind the kamailio front (``--front``); auto without
    kamailio (or with TLS, which the front does not carry) warns once: exposed directly."""
    why, mode = front_unavailable(args, config), getattr(args, "front", "none")
    if why is None or mode == "none":
        return why is None
    if mode == "kamailio":
        raise CliError(f"--front kamailio: {why} (or use --front none)")
    print(f"listenin: warning: {why}: no SIP front, the device is exposed directly "
          "(--front none to silence this)", file=sys.stderr)  # fmt: skip
    return False


def host_calls(args: argparse.Namespace, config) -> int:  # type: ignore[no-untyped-def]
    """SIP calls this host takes: ``--max-calls``, else sized to the CPU with the front
    (a device process per 4 calls), else the one process's 4.  More than 4 without the
    front is a CliError."""
    import os

    from softphone.config import WHEEL_MAX_CALLS

    from .options import CALLS_PER_CORE

    wanted = getattr(args, "max_calls", None)
    why = front_unavailable(args, config)
    if wanted is None:
        return WHEEL_MAX_CALLS if why else CALLS_PER_CORE * (os.cpu_count() or 1)
    if wanted > WHEEL_MAX_CALLS and why is not None:
        raise CliError(
            f"--max-calls {wanted}: more than {WHEEL_MAX_CALLS} calls need a device process "
            f"per {WHEEL_MAX_CALLS} behind the SIP front, but {why}"
        )
    return int(wanted)


def front_rules(args: argparse.Namespace) -> dict[str, int]:
    """The front's tunable rules from the flags."""
    return {"pike_requests": args.front_requests}


def public_config(config):  # type: ignore[no-untyped-def]
    """``config`` with a concrete public SIP port (the front cannot listen on "any port")."""
    from dataclasses import replace

    from softphone.kamailio import free_udp_port

    t = config.transport
    if t.udp_port:
        return config
    return replace(config, transport=replace(t, udp_port=free_udp_port(t.bind_address)))


def start_live(args: argparse.Namespace, config, roles=None, names=None):  # type: ignore[no-untyped-def]
    """Outputs, model, pipeline and the started SIP device (behind its front when
    ``--front`` asks for one; a pool of device processes when the host takes more calls
    than one takes): ``(job, pipeline, outputs)``."""
    from pipeline.runtime import Pipeline
    from softphone.config import WHEEL_MAX_CALLS, ConfigError
    from softphone.device import DeviceError
    from softphone.front import behind_front, front_config
    from softphone.kamailio import FrontError, KamailioFront, free_udp_port
    from softphone.pool import process_configs

    from .live import LiveJob

    load = load_config(args)
    fronted = front_wanted(args, config)
    calls = host_calls(args, config)
    if fronted:  # a front that cannot work is refused before anything starts
        try:
            config = public_config(config)
            front_config(config, (1,), 1, **front_rules(args))
        except (ConfigError, OSError) as err:
            raise CliError(f"SIP front: {err}") from err
    check_ports(config)
    internal = free_udp_port() if fronted else 0
    out = outputs(args, renderer(args))
    try:
        pipeline = Pipeline(engine(args), out.on_event, pipeline_config(args))
    except BaseException:
        out.close()
        raise
    pipeline.partials_wanted = out.wants_partials  # no output for them: not decoded
    device = behind_front(config, internal) if fronted else config
    pool = process_configs(device, calls) if calls > WHEEL_MAX_CALLS else None
    job = LiveJob(pipeline, device, roles, out.on_device_event, out.on_audio, names, load, pool)
    out.add_listener(job.note_event)
    registrar = any(c.account.registrar for c in (pool or [device]))
    out.observer.watch(pipeline, job, expect_registration=registrar, load_config=load)
    try:
        job.start()
        if fronted:
            rules = front_rules(args)
            job.front = KamailioFront(front_config(config, job.device_ports, internal, **rules))
            job.front.start()
    except (DeviceError, FrontError, ConfigError) as err:
        job.stop()
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


def serve_until_stopped(job, stop, calls: int | None) -> int:  # type: ignore[no-untyped-def]
    """Block until ``stop`` is set, Ctrl-C, or ``calls`` calls have ended: 0; or until the
    SIP front dies: 1 (logged; the device is not left exposed without it)."""
    try:
        while not stop.is_set():
            if calls is not None and job.wait_calls_ended(calls, 0.2):
                return 0
            if job.front is not None and not job.front.alive():
                tail = "\n".join(job.front.lines)
                log.error("the SIP front (kamailio) exited with status %s; stopping:\n%s",
                          job.front.returncode, tail)  # fmt: skip
                return 1
            stop.wait(0.2)
    except KeyboardInterrupt:
        pass
    return 0

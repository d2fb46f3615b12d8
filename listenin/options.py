"""The command-line options the sub-commands share, and the configs they become.

Flags are parsed only here, at the edge.  Values are checked before anything
starts (a device, a server, a model): the frozen config dataclasses validate
themselves, and their errors become :class:`CliError` (one line, exit status 2).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from models import MODELS

FORMATS = ("text", "jsonl")
CODEC_CHOICES = ("PCMU", "PCMA", "G722")
CALLS_PER_CORE = 8  # SIP calls per core: 2 cores carried 8 two-party calls (bench.realtime)
MAX_HOST_CALLS = 256  # 64 device processes


class CliError(Exception):
    """An expected failure: printed as ``listenin: error: ...``, exit status 2."""


def verbosity(p: argparse.ArgumentParser) -> None:
    """``-v``/``-vv`` after a sub-command too (added to the count given before it)."""
    p.add_argument(
        "-v",
        "--verbose",
        dest="sub_verbose",
        action="count",
        default=0,
        help="more logging (-vv for debug)",
    )


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
        "--asr-device",
        choices=("cpu", "cuda", "auto"),
        default="cpu",
        help="where the model runs: cpu (default), cuda, or auto (cuda when CTranslate2 "
        "sees a CUDA device, else cpu)",
    )
    g.add_argument(
        "--compute-type",
        metavar="TYPE",
        help="CTranslate2 compute type, e.g. int8, int8_float16, float16 "
        "(default: int8 on cpu, float16 on cuda)",
    )
    g.add_argument(
        "--partial-interval-ms",
        type=int,
        default=500,
        metavar="MS",
        help="decode a speaker's open sentence this often for partials (each re-decodes the "
        "whole sentence so far: 1000 halves the ASR's work; 0: finals only). Streams no "
        "output wants partials of are never decoded early",
    )
    g.add_argument(
        "--min-encode-ms",
        type=int,
        default=15000,
        metavar="MS",
        help="pad a final's encode to this much audio (the decoder needs a long silent tail "
        "or it reads a short answer two or three times; 0: encode only the utterance, faster)",
    )
    g.add_argument(
        "--keep-music",
        action="store_true",
        help="decode hold music like speech (by default a segment judged music is not decoded: "
        "Whisper writes text into it). Turn on if a voice is often heard over music",
    )
    g.add_argument(
        "--first-speaker",
        choices=("agent", "customer"),
        help="mixed (one-stream) calls: who speaks first, to label diarized speakers "
        "agent/customer instead of speaker_1, speaker_2",
    )


def check_asr(args: argparse.Namespace) -> None:
    """Refuse speech options that cannot work, before anything starts."""
    if args.workers < 1:
        raise CliError("--workers must be >= 1")
    if args.partial_interval_ms != 0 and not 100 <= args.partial_interval_ms <= 10_000:
        raise CliError("--partial-interval-ms must be 0 (no partials) or 100..10000")
    if not 0 <= args.min_encode_ms <= 30_000:
        raise CliError("--min-encode-ms must be in 0..30000")
    from pipeline.asr import probe_device

    try:  # resolved once here (auto logs its choice); the engine gets the result
        args.asr_device, args.compute_type = probe_device(args.asr_device, args.compute_type)
    except ValueError as err:
        raise CliError(f"ASR {err}") from None
    language = args.language
    if language == "auto":
        return
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    if language not in _LANGUAGE_CODES:
        raise CliError(f"--language {language!r} is not a Whisper language code (e.g. en, fr, de) "
                       "or 'auto'")  # fmt: skip
    info = MODELS.get(args.model)
    if info is not None and not info.multilingual and language != "en":
        raise CliError(f"--language {language}: model {args.model!r} is English only; "
                       "use --model base for other languages")  # fmt: skip


def pipeline_config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The pipeline's config from the speech options (workers, diarization roles)."""
    from pipeline.diarize import DiarizeConfig
    from pipeline.music import MusicConfig
    from pipeline.party import StreamConfig
    from pipeline.runtime import PipelineConfig
    from pipeline.utterance import StreamingConfig
    from pipeline.vad import VadConfig

    first = getattr(args, "first_speaker", None)
    roles = (first, "customer" if first == "agent" else "agent") if first else ()
    interval = getattr(args, "partial_interval_ms", 500)
    streaming = StreamingConfig(partials=interval > 0, partial_interval_ms=interval or 500)
    vad = VadConfig(music=MusicConfig(enabled=not getattr(args, "keep_music", False)))
    stream = StreamConfig(streaming=streaming, diarize=DiarizeConfig(roles=roles), vad=vad)
    return PipelineConfig(stream, asr_workers=args.workers)


def load_config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """When new calls are refused for ASR load (``--max-asr-lag-ms``, ``--max-queued-finals``)."""
    from pipeline.load import LoadConfig

    lag_ms = getattr(args, "max_asr_lag_ms", 3000)  # demo has no device options: defaults
    queued = getattr(args, "max_queued_finals", None)
    try:
        return LoadConfig(lag_ms, 2 * args.workers if queued is None else queued)
    except ValueError as err:
        raise CliError("--max-asr-lag-ms and --max-queued-finals must be >= 0") from err


def device_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("SIP device")
    g.add_argument("--bind", default="127.0.0.1", help="address for SIP and RTP")
    g.add_argument("--sip-port", type=int, default=5070, help="UDP port (0: any free port)")
    g.add_argument("--tcp-port", type=int, help="also listen on TCP")
    g.add_argument("--tls-port", type=int, help="also listen on TLS (needs --tls-cert/--tls-key)")
    g.add_argument("--tls-cert")
    g.add_argument("--tls-key")
    g.add_argument(
        "--rtp-port",
        type=int,
        help="RTP ports handed out sequentially from this one (0: any; default: a random "
        "even port within --rtp-ports for every stream)",
    )
    g.add_argument("--rtp-ports", default="16384-32767", metavar="LOW-HIGH",
                   help="range of the random RTP ports")  # fmt: skip
    g.add_argument(
        "--no-rtp-gate",
        action="store_true",
        help="let PJMEDIA's RTP sockets face the network (no source/SSRC lock, no checks)",
    )
    g.add_argument("--rtp-address", help="address for RTP when it is not --bind's")
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
        help="answer INVITEs from this IP address (repeat; default 127.0.0.1; the registrar "
        "and proxy hosts are trusted too)",
    )
    g.add_argument(
        "--require-id",
        action="store_true",
        help="refuse INVITEs that do not name a supervised session (403)",
    )
    g.add_argument(
        "--codec",
        action="extend",
        nargs="+",
        choices=CODEC_CHOICES,
        metavar="CODEC",
        help="codecs in order of preference, e.g. --codec PCMA PCMU (or repeat the flag; "
        "choices PCMU PCMA G722; default PCMU PCMA G722)",
    )
    g.add_argument("--srtp", choices=("off", "optional", "mandatory"), default="optional")
    g.add_argument("--jb-min-ms", type=int, default=120, help="jitter buffer minimum prefetch")
    g.add_argument("--jb-max-ms", type=int, default=300, help="jitter buffer maximum prefetch")
    g.add_argument(
        "--max-calls",
        type=int,
        metavar="N",
        help="SIP calls taken at once (per-party supervision: one per party); beyond 4 (one "
        "pjsua2 process) a device process per 4 calls behind the SIP front (default: "
        f"{CALLS_PER_CORE} per CPU core with the front, else 4)",
    )
    g.add_argument("--pjsip-log-level", type=int, default=0, help="PJSIP's own log (0-6)")
    g.add_argument(
        "--front",
        choices=("auto", "kamailio", "none"),
        default="auto",
        help="the SIP front on --bind/--sip-port that filters what reaches the device "
        "(auto: kamailio when installed, else none: the device is exposed directly)",
    )
    g.add_argument(
        "--front-requests",
        type=int,
        default=30,
        metavar="N",
        help="requests one source IP may send the front per 2 s before it is dropped (pike)",
    )
    g.add_argument(
        "--front-source",
        metavar="IP:PORT",
        help="the SIP front this node sits behind (`listenin front`, or with --front none "
        "your own kamailio): the address it sends from; its X-Listenin-Source header (the "
        "original peer, judged by --trust) is believed, and listenin's own front trusts it",
    )
    g.add_argument(
        "--max-asr-lag-ms",
        type=int,
        default=3000,
        metavar="MS",
        help="refuse new calls (503 + Retry-After) while the oldest waiting final has waited "
        "longer than this (0: no lag limit); calls in progress go on",
    )
    g.add_argument(
        "--max-queued-finals",
        type=int,
        metavar="N",
        help="refuse new calls while more finals wait for the ASR (default: 2 x --workers; "
        "0: no depth limit)",
    )
    # the password comes from the environment only: LISTENIN_SIP_PASSWORD


def _uri_host(uri: str) -> str:
    """``sip:user@pbx.example.com:5060;transport=tcp`` -> ``pbx.example.com``."""
    rest = uri.split(":", 1)[1] if ":" in uri else uri
    hostport = rest.split("@", 1)[-1].split(";", 1)[0]
    if hostport.startswith("["):
        return hostport[1:].partition("]")[0]
    return hostport.split(":", 1)[0]


def device_config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The device's frozen config from the flags; a value that cannot work is a CliError."""
    from softphone.config import (
        WHEEL_MAX_CALLS,
        AccountConfig,
        AdmissionConfig,
        ConfigError,
        DeviceConfig,
        JitterConfig,
        MediaConfig,
        RtpGateConfig,
        TransportConfig,
    )

    if args.max_calls is not None and not 1 <= args.max_calls <= MAX_HOST_CALLS:
        raise CliError(f"--max-calls must be 1..{MAX_HOST_CALLS}, got {args.max_calls}")

    try:
        domain = args.domain
        if domain is None and args.registrar:
            domain = _uri_host(args.registrar)
        account = AccountConfig(
            user=args.user, domain=domain or args.bind,
            password=os.environ.get("LISTENIN_SIP_PASSWORD", ""), registrar=args.registrar,
            proxy=args.proxy, auth_user=args.auth_user, register_expires_s=args.register_expires,
        )  # fmt: skip
        init = min(max(args.jb_min_ms + 40, args.jb_min_ms), args.jb_max_ms)
        jitter = JitterConfig(init, args.jb_min_ms, args.jb_max_ms, max(1000, args.jb_max_ms * 2))
        low, sep, high = args.rtp_ports.partition("-")
        if not (sep and low.strip().isdigit() and high.strip().isdigit()):
            raise ConfigError(
                f"--rtp-ports wants LOW-HIGH, e.g. 16384-32767, got {args.rtp_ports!r}"
            )
        transport = TransportConfig(
            args.bind, args.sip_port, args.tcp_port, args.tls_port, args.tls_cert, args.tls_key,
            args.rtp_port, int(low), int(high), args.rtp_address,
        )  # fmt: skip
        admission = AdmissionConfig(
            trusted=tuple(args.trust) or ("127.0.0.1",),
            require_identification=args.require_id,
            max_calls=min(args.max_calls or WHEEL_MAX_CALLS, WHEEL_MAX_CALLS),
            front_source=args.front_source,
        )
        media = MediaConfig(
            codecs=tuple(args.codec or CODEC_CHOICES), srtp=args.srtp, jitter=jitter,
            rtp_gate=RtpGateConfig(enabled=not args.no_rtp_gate),
        )  # fmt: skip
        config = DeviceConfig(account, transport, admission, media, log_level=args.pjsip_log_level)
    except ConfigError as err:
        raise CliError(str(err)) from err
    for flag, path in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key)):
        if path is not None:
            _check_readable(flag, path)
    return config


def _check_readable(flag: str, path: str) -> None:
    """A file the device will need later must be there and readable now, named if not."""
    try:
        with open(path, "rb"):
            pass
    except OSError as err:
        raise CliError(f"{flag}: cannot read {path} ({err.strerror})") from None


def output_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("outputs (websocket API, web console, recordings)")
    g.add_argument("--config", metavar="FILE", help="TOML configuration file (see README)")
    g.add_argument("--ws-host", help="websocket/console address (default 127.0.0.1)")
    g.add_argument("--ws-port", type=int, help="websocket/console port (default 8765, 0: any)")
    g.add_argument("--no-server", action="store_true", help="do not serve websockets/console")
    g.add_argument("--archive", metavar="DIR", help="record WAVs and transcripts under DIR")
    g.add_argument("--bus", metavar="URL", help="also publish events to Redis Streams, e.g. "
                   "redis://127.0.0.1:6379/0, for `listenin gateway` (see README)")  # fmt: skip
    # the websocket bearer token comes from the environment only: LISTENIN_WS_TOKEN


def check_common(args: argparse.Namespace) -> None:
    """The checks every sub-command's shared options need, before it starts anything."""
    if hasattr(args, "workers"):
        check_asr(args)
    call_id: Any = getattr(args, "call_id", None)
    if call_id is not None and not call_id.strip():
        raise CliError("--call-id must not be empty")
    seconds = getattr(args, "seconds", None)
    if seconds is not None and not seconds > 0:
        raise CliError(f"--seconds must be > 0, got {seconds:g}")

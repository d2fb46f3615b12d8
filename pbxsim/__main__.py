"""``python -m pbxsim``: place supervise calls to a listenin device."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .plan import FORMS, SimLeg, legs, load_session

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m pbxsim",
        description="Local phone-platform simulator: places supervise calls to a listenin "
        "device and plays a fixture call's parties as RTP.",
    )
    p.add_argument("target", help="SIP URI to call, e.g. sip:listenin@127.0.0.1:5070")
    p.add_argument("--fixture", default="call1", help="fixture name or path to its .json")
    p.add_argument(
        "--form",
        choices=FORMS,
        default="two-streams",
        help="two-streams: one INVITE, an m=audio per party (RingCentral); "
        "per-party: one INVITE per party (RingCentral); headers: X-Session-Id etc.; "
        "bare: one INVITE per party, no identifying headers",
    )
    p.add_argument("--sessions", type=int, default=1, help="concurrent supervised calls")
    p.add_argument("--session-prefix", default="sim", help="session ids are PREFIX-1, PREFIX-2 ...")
    p.add_argument("--codec", choices=("PCMU", "PCMA", "G722"), default="PCMU")
    p.add_argument("--srtp", action="store_true", help="offer RTP/SAVP with SDES keys")
    p.add_argument("--transport", choices=("udp", "tcp", "tls"), default="udp")
    p.add_argument("--start-s", type=float, default=0.0, help="start this far into the fixture")
    p.add_argument("--seconds", type=float, help="play at most this long, then hang up")
    p.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="NAME:VALUE",
        help="extra header on every INVITE (repeatable)",
    )
    p.add_argument(
        "--engine",
        choices=("auto", "raw", "pjsua2"),
        default="auto",
        help="raw: our own UAC (G.711 over UDP, every form); pjsua2: a PJSIP "
        "endpoint (G.722, SRTP, TCP/TLS; not the two-streams form). auto picks",
    )
    p.add_argument(
        "--dtmf",
        default="",
        metavar="DIGITS",
        help="key DIGITS as RFC 4733 telephone-events (pjsua2 engine)",
    )
    p.add_argument("--dtmf-at-s", type=float, default=1.0, help="when to key --dtmf")
    p.add_argument("--pjsip-log-level", type=int, default=0)
    return p.parse_args(argv)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.pjsip_log_level else logging.WARNING)
    fixture = Path(args.fixture)
    if not fixture.suffix:
        fixture = FIXTURES / f"{args.fixture}.json"
    if not fixture.is_file():
        print(f"pbxsim: no fixture at {fixture}", file=sys.stderr)
        return 2
    headers = []
    for item in args.header:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            print(f"pbxsim: --header wants NAME:VALUE, got {item!r}", file=sys.stderr)
            return 2
        headers.append((name.strip(), value.strip()))
    all_legs: list[SimLeg] = []
    duration = 0.0
    for n in range(1, args.sessions + 1):
        session = load_session(fixture, f"{args.session_prefix}-{n}")
        duration = session.duration_s
        all_legs.extend(legs(session, args.form))
    needs_pjsua2 = args.codec == "G722" or args.srtp or args.transport != "udp" or bool(args.dtmf)
    engine = args.engine if args.engine != "auto" else ("pjsua2" if needs_pjsua2 else "raw")
    if engine == "raw" and needs_pjsua2:
        print("pbxsim: the raw UAC plays G.711 over UDP only; use --engine pjsua2", file=sys.stderr)
        return 2
    if engine == "pjsua2" and args.form == "two-streams":
        print("pbxsim: PJSIP cannot send i= lines, so the two-streams form needs the raw "
              "engine (G.711 over UDP)", file=sys.stderr)  # fmt: skip
        return 2
    if engine == "raw":
        from .uac import RawCaller

        caller = RawCaller(args.target, args.codec, tuple(headers))
        results = caller.run(tuple(all_legs), args.start_s, args.seconds)
    else:
        from .caller import CallerOptions, run

        opts = CallerOptions(
            args.target, args.codec, args.srtp, args.transport, args.start_s, args.seconds,
            log_level=args.pjsip_log_level, headers=tuple(headers), dtmf=args.dtmf,
            dtmf_at_s=args.dtmf_at_s,
        )  # fmt: skip
        results = run(tuple(all_legs), opts, duration)
    for r in results:
        print(json.dumps(r), flush=True)
    return 0 if all(r["answered"] for r in results) else 3


if __name__ == "__main__":
    sys.exit(main())

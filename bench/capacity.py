"""Capacity: ramp concurrent supervised calls of real speech through the SIP front until
the transcripts fall behind.

``python -m bench.capacity [--steps 2,4,6,8,10,12] [--seconds 40] [--start-s 18]``

One host for the whole ramp (the model loads once), started in this process by the code
of ``listenin run`` (its parser, :func:`listenin.serve.start_live` and ``finish``): the
kamailio front, a pool of pjsua2 device processes of 4 SIP calls each, one pipeline
(faster-whisper on the CPU).  In this process rather than as a ``listenin run`` child
because ``run`` prints none of the drop counters (the device processes', the pool's, the
pipeline's); its JSONL still goes to a scratch file, as ``run``'s stdout would.  The load
gate is off (``--max-queued-finals 0 --max-asr-lag-ms 0``): with it the device answers
503 once the ASR lags, and the ramp would find the gate's threshold instead of the
latency calls get (p95 <= 1.5 s is well inside the gate's default 3 s lag anyway).

Each step: one simulator (``pbxsim --form per-party``) places N calls at once, each two
SIP INVITEs (one per party), playing ``--seconds`` of call2's recorded speech from
``--start-s``, one simulator per call started ``--stagger-s`` (0.37 s) after the last,
as independent calls would (``--stagger-s 0``: one simulator, all calls in lockstep,
every utterance ending at the same instant: a worst case for the ASR queue); the step
ends when every answered call's ``call.ended`` is out.
The ramp stops after a step whose final p95 > 1.5 s, that dropped a frame or refused a
final, or whose SIP calls were not all answered.

Per step (the last stdout line is one JSON object: ``max_calls``, the largest step with
p50 <= 0.8 s, p95 <= 1.5 s, nothing dropped and every SIP call answered; ``steps``):

- ``p50_s``/``p95_s``: final latency on the wall clock, per reference utterance of
  fixtures/call2.json whose end was played: when the last final overlapping it left the
  pipeline, minus when the simulator sent the utterance's last packet (its ``media_t0``
  + end - start_s; both ``time.monotonic()`` on this host).  So it holds the whole path:
  loopback, jitter buffer, device process, pool, VAD hangover, ASR queue and decode.  Not
  ``emitted_at``: the call clock is the newest audio the pipeline has, so it leaves out
  any wait in front of the pipeline (and starts at the answer, not at the first packet).
  ``utterances``: heard/played; ``finals``: non-empty finals.
- ``answered`` of ``sip_calls``: the simulator's view (a 2xx or not).
- ``dropped_frames``: frames the device processes and the pool's queue refused
  (``DevicePool.stats``) and the pipeline refused (``PipelineStats``) during the step;
  ``finals_refused``: finals the full ASR queue refused.
- ``device_cpu_pct_per_call``: CPU time of the device processes (this process's
  multiprocessing children) over the step's wall time (INVITEs to the last call.ended),
  per call; 100 = one core.  ``asr_cpu_pct_per_call``: the same for this process (the
  pipeline, the ASR, the pool's reader threads).  ``front_cpu_pct``: kamailio, in all.
- ``rss_mb``: peak RSS of this process and the device processes during the step;
  ``rss_mb_per_call``: its growth over the previous step's (the idle host's for the
  first, read after a warm-up call: the first decodes allocate once) per added call.
"""

from __future__ import annotations

# stdlib only up here: the device processes are spawned, and spawn imports the main
# module (this one) in each of them; the host's modules load in main()
import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .procstat import RssPeak, cpu_by_kind, processes, rss_mb

ROOT = Path(__file__).resolve().parent.parent
P50_MAX_S, P95_MAX_S = 0.8, 1.5


# -- what the host emits -----------------------------------------------------------------
class Watch:
    """The pipeline's finals (with the wall time each left it) and call ends, and each
    call's call-clock origin on the wall clock, from the frames the pipeline is fed."""

    def __init__(self) -> None:
        self.finals: dict[str, list[tuple[str, float, float, float]]] = {}  # party s e wall
        self.ended: set[str] = set()
        self.origin: dict[str, float] = {}  # call: wall time of call-clock 0 (min seen)
        self._cond = threading.Condition()

    def on_event(self, event) -> None:  # type: ignore[no-untyped-def]
        now = time.monotonic()
        kind = getattr(event, "type", "")
        with self._cond:
            if kind == "transcript.final" and event.text.strip():
                self.finals.setdefault(event.call_id, []).append(
                    (event.party, event.start, event.end, now)
                )
            elif kind == "call.ended":
                self.ended.add(event.call_id)
                self._cond.notify_all()

    def tapping(self, tap):  # type: ignore[no-untyped-def]
        """``tap`` (the host's audio tap) that also notes the call clock's origin."""

        def noting(frame) -> None:  # type: ignore[no-untyped-def]
            at = time.monotonic() - frame.start_s
            if at < self.origin.get(frame.call_id, at + 1):
                self.origin[frame.call_id] = at
            if tap is not None:
                tap(frame)

        return noting

    def wait_ended(self, calls: set[str], timeout_s: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: calls <= self.ended, timeout_s)


def utterance_latencies(
    utterances: list[dict], finals: list[tuple[str, float, float, float]],
    start_s: float, seconds: float, media_t0: float, shift_s: float,
) -> tuple[list[float], int]:  # fmt: skip
    """Latencies of the utterances whose end was played, and how many were.  A final
    matches an utterance of its party that it overlaps once the utterance is moved to
    the call clock (fixture time - ``start_s`` + ``shift_s``, where the first packet
    landed); the latency is the wall time the last such final left the pipeline minus
    when the utterance's last packet was sent (``media_t0 + end - start_s``)."""
    out, played = [], 0
    for u in utterances:
        if not start_s < u["end"] <= start_s + seconds:
            continue
        played += 1
        a, b = u["start"] - start_s + shift_s, u["end"] - start_s + shift_s
        walls = [w for party, s, e, w in finals if party == u["party"] and s < b and a < e]
        if walls:
            out.append(max(walls) - (media_t0 + u["end"] - start_s))
    return out, played


def meets(step: dict) -> bool:
    """Whether a step carried its calls: every SIP call answered, nothing dropped or
    refused, final latency p50 <= 0.8 s and p95 <= 1.5 s."""
    return (
        step["answered"] == step["sip_calls"]
        and step["dropped_frames"] == 0
        and step["finals_refused"] == 0
        and step["p50_s"] is not None
        and step["p50_s"] <= P50_MAX_S
        and step["p95_s"] <= P95_MAX_S
    )


def ramp_goes_on(step: dict) -> bool:
    """Stop after p95 > 1.5 s (or no final heard), a drop, or a call not answered."""
    p95 = step["p95_s"]
    return (p95 is not None and p95 <= P95_MAX_S and step["dropped_frames"] == 0
            and step["finals_refused"] == 0 and step["answered"] == step["sip_calls"])  # fmt: skip


# -- the ramp ----------------------------------------------------------------------------
def counters(job, pipeline) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(frames dropped by the device side and the pipeline, finals refused), so far."""
    return (job.device.stats.dropped_frames + pipeline.stats.dropped_frames,
            pipeline.stats.finals_refused)  # fmt: skip


def run_step(n: int, seconds: float, prefix: str, host: tuple, args: argparse.Namespace,
             ref: dict, prev: tuple[int, float]) -> dict:  # fmt: skip
    """One step of ``n`` calls of ``seconds``; ``host`` is (job, pipeline, watch, address),
    ``prev`` the previous step's (calls, peak RSS MB)."""
    from .realtime import pct

    job, pipeline, watch, address = host
    dropped0, refused0 = counters(job, pipeline)
    before = processes()
    rss, wall0 = RssPeak(before), time.monotonic()
    sims = []  # one simulator per call, each --stagger-s after the last (0: all at once)
    for k in range(1 if args.stagger_s == 0 else n):
        sims.append(subprocess.Popen(
            [sys.executable, "-m", "pbxsim", f"sip:listenin@{address}", "--fixture", "call2",
             "--form", "per-party", "--sessions", str(n if args.stagger_s == 0 else 1),
             "--start-s", str(args.start_s), "--seconds", str(seconds), "--session-prefix",
             prefix if args.stagger_s == 0 else f"{prefix}c{k}"],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        ))  # fmt: skip
        time.sleep(args.stagger_s)
    out = ""
    for sim in sims:
        try:
            out += sim.communicate(timeout=seconds + 60)[0]
        finally:
            if sim.poll() is None:
                sim.kill()
                sim.wait()
    legs = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    calls = {leg["session_id"] for leg in legs if leg["answered"]}
    if not watch.wait_ended(calls, seconds + 30):
        print(f"  not ended after {seconds + 30:g} s: {sorted(calls - watch.ended)}",
              file=sys.stderr)  # fmt: skip
    wall, after = time.monotonic() - wall0, processes()
    peak = rss.stop()
    time.sleep(1.5)  # the device processes report their drops each second
    dropped1, refused1 = counters(job, pipeline)
    latencies, played = [], 0
    for call in sorted(calls):
        starts = [leg["media_t0"] for leg in legs
                  if leg["session_id"] == call and leg.get("media_t0")]  # fmt: skip
        media_t0 = min(starts) if starts else None
        if media_t0 is None or call not in watch.origin:
            continue
        # no platform adapter names the roles: a party is the simulator's party id,
        # CALL-1, CALL-2 in the fixture's order of parties
        role = {f"{call}-{k}": name for k, name in enumerate(ref["parties"], 1)}
        finals = [(role.get(p, p), s, e, w) for p, s, e, w in watch.finals.get(call, [])]
        got, heard = utterance_latencies(ref["utterances"], finals, args.start_s, seconds,
                                         media_t0, media_t0 - watch.origin[call])  # fmt: skip
        latencies += got
        played += heard
    cpu = cpu_by_kind(before, after)
    per_call = lambda s: round(100 * s / wall / n, 1)  # noqa: E731
    prev_calls, prev_rss = prev
    return {
        "calls": n,
        "sip_calls": 2 * n,
        "answered": sum(bool(leg["answered"]) for leg in legs),
        "p50_s": pct(latencies, 50),
        "p95_s": pct(latencies, 95),
        "utterances": f"{len(latencies)}/{played}",
        "finals": sum(len(watch.finals.get(c, [])) for c in calls),
        "dropped_frames": dropped1 - dropped0,
        "finals_refused": refused1 - refused0,
        "device_cpu_pct_per_call": per_call(cpu["device"]),
        "asr_cpu_pct_per_call": per_call(cpu["host"]),
        "front_cpu_pct": round(100 * cpu["front"] / wall, 1),
        "rss_mb": peak,
        "rss_mb_per_call": round((peak - prev_rss) / (n - prev_calls), 1)
        if n > prev_calls else None,
        "wall_s": round(wall, 1),
    }  # fmt: skip


def start_host(args: argparse.Namespace, scratch):  # type: ignore[no-untyped-def]
    """``listenin run`` behind kamailio, its JSONL into ``scratch``: (job, pipeline, outputs)."""
    from listenin.cli import build_parser
    from listenin.options import check_common, device_config
    from listenin.serve import start_live
    from softphone.kamailio import free_udp_port

    run = build_parser().parse_args(
        ["run", "--sip-port", str(free_udp_port()), "--rtp-port", "0", "--front", "kamailio",
         "--no-server", "--format", "text" if args.finals_only else "jsonl",
         "--max-calls", str(args.max_calls),
         "--max-queued-finals", "0", "--max-asr-lag-ms", "0", "--model", args.model]
    )  # fmt: skip
    check_common(run)
    with contextlib.redirect_stdout(scratch):  # the renderer writes where stdout is now
        return start_live(run, device_config(run))


def ramp(args: argparse.Namespace) -> dict:
    import logging

    from listenin.serve import finish

    from .realtime import machine

    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    ref = json.loads((ROOT / "fixtures" / "call2.json").read_text())
    watch = Watch()
    with tempfile.TemporaryFile("w+") as scratch:
        print(f"starting the host: {args.max_calls} SIP calls, model {args.model}",
              file=sys.stderr, flush=True)  # fmt: skip
        job, pipeline, outputs = start_host(args, scratch)
        try:
            outputs.add_listener(watch.on_event)
            job.feed.tap = watch.tapping(job.feed.tap)
            host = (job, pipeline, watch, job.address)
            print(f"ready at {job.address}, {len(job.device_ports)} device processes",
                  file=sys.stderr, flush=True)  # fmt: skip
            if args.warmup_s > 0:  # first decodes and first calls allocate: not per call
                print(f"warm-up: 1 call, {args.warmup_s:g} s", file=sys.stderr, flush=True)
                run_step(1, args.warmup_s, "warmup", host, args, ref, (0, 0.0))
            time.sleep(2.0)  # settle before the idle reading
            prev = (0, rss_mb(processes()))
            print(f"idle RSS {prev[1]:.0f} MB", file=sys.stderr, flush=True)
            steps = []
            for i, n in enumerate(args.steps, 1):
                print(f"step {i}/{len(args.steps)}: {n} calls ({2 * n} SIP), "
                      f"{args.seconds:g} s", file=sys.stderr, flush=True)  # fmt: skip
                step = run_step(n, args.seconds, f"cap{i}", host, args, ref, prev)
                step["ok"] = meets(step)
                steps.append(step)
                print(f"  {json.dumps(step)}", file=sys.stderr, flush=True)
                if not ramp_goes_on(step):
                    print("  the ramp stops here", file=sys.stderr, flush=True)
                    break
                prev = (n, step["rss_mb"])
                time.sleep(2.0)
        finally:
            finish(job, pipeline, outputs)
    return {
        "max_calls": max((s["calls"] for s in steps if s["ok"]), default=0),
        # the same without the p50 bound: over SIP the p50 floor is fixed latency (VAD
        # hangover 500 ms, jitter buffer ~140 ms), not load
        "max_calls_p95": max((s["calls"] for s in steps if ramp_goes_on(s)), default=0),
        "steps": steps,
        "seconds": args.seconds,
        "start_s": args.start_s,
        "host_max_sip_calls": args.max_calls,
        "model": args.model,
        "partials": not args.finals_only,
        "fixture": "call2",
        "machine": machine(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", default="2,4,6,8,10,12", help="calls per step (2 SIP calls each)")
    p.add_argument("--seconds", type=float, default=40.0, help="seconds of speech per call")
    p.add_argument(
        "--stagger-s",
        type=float,
        default=0.37,
        help="start of each call after the last (0: all in lockstep)",
    )
    p.add_argument("--start-s", type=float, default=18.0,
                   help="where in call2 to start (18: both parties speak)")  # fmt: skip
    p.add_argument("--max-calls", type=int,
                   help="SIP calls the host takes, for listenin run (default: the largest "
                   "step's, at least 8 so the device runs as a pool of processes)")  # fmt: skip
    p.add_argument("--model", default="tiny.en")
    p.add_argument("--finals-only", action="store_true",
                   help="text output into the scratch file (not a tty): no output wants "
                   "partials, so none are decoded (a finals-only consumer's host)")  # fmt: skip
    p.add_argument("--warmup-s", type=float, default=8.0,
                   help="one call of this long before the ramp, not counted (0: none)")  # fmt: skip
    args = p.parse_args()
    args.steps = [int(s) for s in args.steps.split(",") if s.strip()]
    if not args.steps or min(args.steps) < 1:
        p.error("--steps wants calls per step, e.g. 2,4,6")
    if args.max_calls is None:
        args.max_calls = max(8, 2 * max(args.steps))
    from listenin.options import CliError

    try:
        result = ramp(args)
    except CliError as err:  # no kamailio, a port taken, an unknown model
        print(f"bench.capacity: error: {err}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""The metrics tally and collector: totals from records, bounded labels, text format."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from records.device import LegAnswered, LegRejected, RegistrationChanged, StreamStats
from records.events import CallEnded, TranscriptFinal
from sinks.archive import ArchiveStats
from sinks.metrics import MAX_STATUSES, MetricsTally, Snapshot, registry_for, render


def samples(text: bytes) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def stream(party: str, packets: int, lost: int, jb_discarded: int = 0, call: str = "c1"):
    return StreamStats(call, party, "PCMU", packets, lost, 0, 0, 0, 12.0, 40, 0, jb_discarded,
                       0, 0)  # fmt: skip


def final(call: str, end: float, emitted_at: float) -> TranscriptFinal:
    return TranscriptFinal(call_id=call, party="agent", segment_id="s1", text="hi", start=0.0,
                           end=end, words=(), emitted_at=emitted_at)  # fmt: skip


def test_counters_from_records():
    tally = MetricsTally()
    tally.on_device_event(LegAnswered("l1", "c1", (), "10.0.0.1:5060", "headers", 20.0))
    tally.on_device_event(LegRejected("10.0.0.1:5060", 503, "ASR overloaded"))
    tally.on_device_event(LegRejected("10.0.0.1:5060", 503, "ASR overloaded"))
    tally.on_device_event(LegRejected("10.0.0.2:5060", 403, "not trusted"))
    tally.on_device_event(RegistrationChanged(200, "OK", True, 300))
    # cumulative per-stream counters become totals of their deltas
    tally.on_device_event(stream("agent", 100, 1))
    tally.on_device_event(stream("agent", 250, 3, jb_discarded=2))
    tally.on_device_event(stream("customer", 50, 0))
    tally.on_event(final("c1", 1.0, 2.2))
    tally.on_event(CallEnded(call_id="c1", emitted_at=3.0, duration=3.0))
    tally.on_device_event(stream("agent", 10, 0))  # a new call with the same id starts over
    got = samples(render(registry_for(tally, Snapshot)))
    assert got[("listenin_calls_answered_total", ())] == 1
    assert got[("listenin_calls_refused_total", (("status", "503"),))] == 2
    assert got[("listenin_calls_refused_total", (("status", "403"),))] == 1
    assert got[("listenin_sip_registered", ())] == 1
    assert got[("listenin_rtp_packets_total", ())] == 310
    assert got[("listenin_rtp_lost_total", ())] == 3
    assert got[("listenin_jitter_buffer_discarded_total", ())] == 2
    assert got[("listenin_rtp_jitter_seconds_count", ())] == 4
    assert got[("listenin_final_latency_seconds_count", ())] == 1
    assert got[("listenin_final_latency_seconds_bucket", (("le", "1.5"),))] == 1
    assert got[("listenin_final_latency_seconds_bucket", (("le", "1.0"),))] == 0
    assert got[("listenin_call_answer_seconds_bucket", (("le", "0.025"),))] == 1


def test_refusal_statuses_are_bounded():
    tally = MetricsTally()
    for status in range(400, 400 + MAX_STATUSES + 5):
        tally.on_device_event(LegRejected("x", status, "no"))
    assert len(tally.refused) == MAX_STATUSES + 1
    assert tally.refused["other"] == 5


def test_snapshot_figures_are_rendered_only_when_present():
    bare = samples(render(registry_for(MetricsTally(), Snapshot)))
    assert ("listenin_ws_clients", ()) not in bare
    assert ("listenin_sip_registered", ()) not in bare
    snap = Snapshot(
        calls_active=2,
        device_dropped_frames=7,
        pipeline={"dropped_frames": 1, "finals": 4, "partials": 9, "partials_skipped": 3},
        queued_finals=2,
        lag_ms=1500.0,
        decodes=10,
        decode_seconds=2.5,
        ws={"clients": 3, "slow_closes": 1},
        archive=ArchiveStats(4096, 2, 1, 5, 1, 0, 0),
    )
    got = samples(render(registry_for(MetricsTally(), lambda: snap)))
    assert got[("listenin_calls_active", ())] == 2
    assert got[("listenin_frames_dropped_total", (("stage", "device"),))] == 7
    assert got[("listenin_frames_dropped_total", (("stage", "pipeline"),))] == 1
    assert got[("listenin_frames_dropped_total", (("stage", "archive"),))] == 5
    assert got[("listenin_partials_skipped_total", ())] == 3
    assert got[("listenin_asr_lag_seconds", ())] == 1.5
    assert got[("listenin_asr_decode_seconds_sum", ())] == 2.5
    assert got[("listenin_asr_decode_seconds_count", ())] == 10
    assert got[("listenin_ws_clients", ())] == 3
    assert got[("listenin_ws_slow_closes_total", ())] == 1
    assert got[("listenin_archive_bytes_total", ())] == 4096


def test_registries_are_separate():
    a, b = MetricsTally(), MetricsTally()
    a.on_device_event(LegRejected("x", 486, "busy"))
    got_b = samples(render(registry_for(b, Snapshot)))
    assert ("listenin_calls_refused_total", (("status", "486"),)) not in got_b


def test_every_metric_is_in_the_readme():
    from pathlib import Path

    from records.device import RegistrationChanged as Reg
    from sinks.health import HealthBook

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    tally = MetricsTally()
    tally.on_device_event(Reg(200, "OK", True, 300))
    full = Snapshot(
        calls_active=0, device_dropped_frames=0, pipeline={}, queued_finals=0, lag_ms=0.0,
        decodes=0, decode_seconds=0.0, decode_errors=0, overloaded=False, gate_trips=0,
        ws={}, archive=ArchiveStats(0, 0, 0, 0, 0, 0, 0), readiness=HealthBook().evaluate(0.0),
    )  # fmt: skip
    names = {
        f.name
        for f in text_string_to_metric_families(render(registry_for(tally, lambda: full)).decode())
    }
    missing = [n for n in names if f"`{n}" not in readme]
    assert not missing

"""The readiness verdict: checks that apply, their transitions, archive trouble held."""

from __future__ import annotations

import json

from pipeline.load import Load, LoadConfig
from records.device import RegistrationChanged
from sinks.archive import ArchiveStats
from sinks.health import HealthBook


def archive(errors: int = 0, dropped: int = 0) -> ArchiveStats:
    return ArchiveStats(1000, 1, errors, dropped, 1, 0, 0)


def test_nothing_to_check_is_ready():
    verdict = HealthBook().evaluate(0.0)
    assert verdict.ready and verdict.checks == ()


def test_registration_is_checked_only_with_a_registrar():
    book = HealthBook(expect_registration=True)
    assert book.evaluate(0.0).reasons == ["registration: not registered yet"]
    book.on_device_event(RegistrationChanged(200, "OK", True, 300))
    assert book.evaluate(1.0).ready
    book.on_device_event(RegistrationChanged(408, "Request Timeout", False, 0))
    assert book.evaluate(2.0).reasons == ["registration: 408 Request Timeout"]
    assert HealthBook().evaluate(0.0).ready  # no registrar: skipped


def test_pipeline_over_its_budget_is_not_ready():
    book, cfg = HealthBook(), LoadConfig(max_lag_ms=3000, max_queued_finals=4)
    assert book.evaluate(0.0, Load(100.0, 1), cfg).ready
    late = book.evaluate(0.0, Load(4000.0, 1), cfg)
    assert not late.ready and "lag 4000 ms" in late.reasons[0]
    deep = book.evaluate(0.0, Load(0.0, 5), cfg)
    assert not deep.ready and "5 finals queued" in deep.reasons[0]


def test_archive_errors_hold_readiness_down_for_a_while():
    book = HealthBook(archive_hold_s=60.0)
    assert book.evaluate(0.0, archive=archive()).ready
    failed = book.evaluate(10.0, archive=archive(errors=2))
    assert failed.reasons == ["archive: 2 file errors within 60 s"]
    assert not book.evaluate(69.0, archive=archive(errors=2)).ready
    assert book.evaluate(70.0, archive=archive(errors=2)).ready
    assert not book.evaluate(80.0, archive=archive(errors=2, dropped=5)).ready


def test_unwritable_archive_root_is_not_ready():
    verdict = HealthBook().evaluate(0.0, archive=archive(), archive_writable=False)
    assert verdict.reasons == ["archive: the archive root is not writable"]


def test_verdict_json_names_each_check():
    book = HealthBook(expect_registration=True)
    body = json.loads(book.evaluate(0.0, Load(0.0, 0), archive=archive()).to_json())
    assert body["ready"] is False
    assert set(body["checks"]) == {"registration", "pipeline", "archive"}
    assert body["checks"]["pipeline"]["ok"] is True

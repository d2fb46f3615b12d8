"""The load gate: trips on lag or depth, clears with hysteresis, time passed in."""

import pytest

from pipeline.load import LoadConfig, LoadGate

CFG = LoadConfig(max_lag_ms=3000, max_queued_finals=4, clear_fraction=0.5, hold_s=5.0)


def test_under_the_limits_admits():
    gate = LoadGate(CFG)
    assert gate.update(3000, 4, 0.0) is None  # at the limit is not over it
    assert gate.overloaded is None and gate.trips == 0


def test_lag_over_the_limit_trips_with_its_reason():
    gate = LoadGate(CFG)
    reason = gate.update(3500, 0, 1.0)
    assert reason is not None and "lag 3500 ms" in reason
    assert gate.overloaded == reason and gate.trips == 1 and gate.tripped_at == 1.0


def test_depth_over_the_limit_trips():
    reason = LoadGate(CFG).update(0, 5, 0.0)
    assert reason is not None and "5 finals queued" in reason


def test_it_stays_tripped_until_both_figures_are_well_under_and_the_hold_passed():
    gate = LoadGate(CFG)
    assert gate.update(4000, 0, 0.0)
    assert gate.update(2000, 0, 10.0)  # under the limit, not under half of it: no flapping
    assert gate.update(1000, 3, 10.0)  # depth still above half its limit
    assert gate.update(1000, 2, 10.0) is None  # both at or under half
    assert gate.trips == 1


def test_the_hold_time_keeps_it_tripped_even_when_load_vanishes():
    gate = LoadGate(CFG)
    gate.update(0, 9, 100.0)
    assert gate.update(0, 0, 104.9) is not None
    assert gate.update(0, 0, 105.0) is None


def test_the_reason_follows_the_figures_while_tripped():
    gate = LoadGate(CFG)
    gate.update(3100, 0, 0.0)
    assert "lag 9000 ms" in (gate.update(9000, 0, 1.0) or "")
    assert gate.tripped_at == 0.0 and gate.trips == 1


def test_a_second_overload_counts_a_second_trip():
    gate = LoadGate(CFG)
    gate.update(0, 5, 0.0)
    gate.update(0, 0, 6.0)
    assert gate.update(0, 5, 7.0) and gate.trips == 2


def test_a_zero_limit_is_not_checked():
    gate = LoadGate(LoadConfig(max_lag_ms=0, max_queued_finals=0))
    assert gate.update(1e9, 10**6, 0.0) is None


@pytest.mark.parametrize(
    "kwargs", [dict(max_lag_ms=-1), dict(max_queued_finals=-1), dict(clear_fraction=2.0)]
)
def test_bad_configs_are_refused(kwargs):
    with pytest.raises(ValueError):
        LoadConfig(**kwargs)

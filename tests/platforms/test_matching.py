"""Pairing plain supervise INVITEs with the platform calls they are for."""

from __future__ import annotations

from platforms.matching import InviteMatcher


def test_oldest_expectation_first_unless_the_caller_matches_a_hint():
    m = InviteMatcher(window_s=10)
    m.expect("uii-1", 0.0, hint="6501234567")
    m.expect("uii-2", 1.0, hint="6509999999")
    assert m.answered("sip-a", "6509999999", 2.0) == "uii-2"
    assert m.answered("sip-b", "pbxsim", 2.5) == "uii-1"
    assert m.answered("sip-b", None, 3.0) == "uii-1"  # the same session again
    assert m.call_for("sip-a") == "uii-2"
    m.forget("sip-a")
    assert m.call_for("sip-a") is None


def test_stale_and_cancelled_expectations_match_nothing():
    m = InviteMatcher(window_s=10)
    m.expect("uii-1", 0.0)
    m.expect("uii-2", 0.0)
    m.cancel("uii-2")
    assert m.answered("sip-a", None, 11.0) is None and m.unmatched == 1
    m.expect("uii-3", 20.0)
    assert m.answered("sip-b", None, 21.0) == "uii-3"

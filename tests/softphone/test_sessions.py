"""The session registry: legs in and out, names settled once, nothing left after the end."""

from softphone.sessions import Sessions


def test_a_session_ends_with_its_last_leg_and_leaves_nothing():
    s = Sessions()
    s.open_leg("s-1", "leg-a")
    s.open_leg("s-1", "leg-b")
    assert s.close_leg("s-1", "leg-a") is None  # one leg still open
    ended = s.close_leg("s-1", "leg-b")
    assert ended is not None and ended.session_id == "s-1"
    assert len(s) == 0 and s.get("s-1") is None
    assert s.close_leg("s-1", "leg-b") is None  # already gone: nothing happens


def test_a_name_is_settled_at_first_use_and_a_later_one_ignored():
    s = Sessions()
    s.open_leg("s-1", "leg")
    answers = iter(["uii-1", "uii-2"])
    assert s.call_id("s-1", lambda sid: next(answers)) == "uii-1"
    assert s.call_id("s-1", lambda sid: next(answers)) == "uii-1"
    assert s.call_id("s-2", None) == "s-2"  # unnamed: the SIP session id


def test_only_a_named_plain_session_is_mixed():
    s = Sessions()
    s.open_leg("plain", "leg", plain_label="gateway")
    s.open_leg("unnamed", "leg", plain_label="softphone")
    s.call_id("plain", lambda sid: "uii-7")
    s.call_id("unnamed", lambda sid: None)
    assert s.is_mixed("plain", "gateway") and not s.is_mixed("plain", "other")
    assert not s.is_mixed("unnamed", "softphone")


def test_an_id_that_comes_again_is_a_new_session():
    s = Sessions()
    s.open_leg("s-1", "leg-1", plain_label="gateway")
    s.call_id("s-1", lambda sid: "uii-1")
    s.close_leg("s-1", "leg-1")
    again = s.open_leg("s-1", "leg-2")
    assert again.name is None and again.plain_label is None and not again.mixed
    assert s.call_id("s-1", lambda sid: "uii-2") == "uii-2"


def test_the_device_side_clock_lives_and_ends_with_its_session():
    from softphone.clock import SessionClock

    s = Sessions()
    entry = s.open_leg("s-1", "leg-a")
    entry.clock = SessionClock(16000)
    assert s.open_leg("s-1", "leg-b").clock is entry.clock  # one clock per session
    assert s.clock("s-1") is entry.clock
    s.close_leg("s-1", "leg-a")
    s.close_leg("s-1", "leg-b")
    try:
        s.clock("s-1")
    except KeyError:
        pass
    else:
        raise AssertionError("an ended session has no clock")

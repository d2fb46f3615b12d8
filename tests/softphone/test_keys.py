"""RFC 4733 key presses: PJMEDIA's reports to one record per press, and over real SIP."""

from records.device import DigitSignalled, LegEnded
from softphone.keys import DTMF_IS_END, DTMF_IS_UPDATE, SignalledKeys

from .conftest import drain
from .test_device import ended, sim_in_background


def test_start_updates_and_end_make_one_press_on_the_tap_clock():
    keys = SignalledKeys("s", "customer", 8000)
    assert keys.event("5", 1000, 0, 0, position=16000) == []  # key down, tap at 2.0 s
    assert keys.event("5", 1000, 100, DTMF_IS_UPDATE, position=16800) == []
    (press,) = keys.event("5", 1000, 200, DTMF_IS_END, position=17600)
    assert press == DigitSignalled("s", "customer", "5", 16000, 17600, 8000)
    assert keys.event("5", 1000, 200, DTMF_IS_END, position=17680) == []  # repeated end packet
    assert keys.close() == []


def test_a_press_whose_end_was_lost_is_closed_by_the_next_or_by_close():
    keys = SignalledKeys("s", "agent", 16000)
    keys.event("1", 10, 40, 0, position=32000)  # first heard 40 ms in: starts 40 ms back
    (first,) = keys.event("#", 500, 0, 0, position=40000)
    assert (first.digit, first.start, first.end) == ("1", 32000 - 640, 32000)
    (last,) = keys.close()
    assert (last.digit, last.start, last.end) == ("#", 40000, 40016)
    assert keys.event("x", 900, 0, 0, position=0) == [] and keys.ignored == 1


def test_telephone_events_over_sip_reach_the_device_as_presses(make_device):
    dev = make_device()
    t, sim = sim_in_background(f"sip:listenin@{dev.address}", "--form", "per-party",
                               "--seconds", "2", "--dtmf", "4#1", "--dtmf-at-s", "0.5")  # fmt: skip
    got = drain(dev, ended(2), timeout=30)
    t.join()
    assert sim["rc"] == 0 and len(sim["legs"]) == 2
    presses = got.of(DigitSignalled)
    assert len(got.of(LegEnded)) == 2 and {p.session_id for p in presses} == {"sim-1"}
    parties = {party for _, party in got.frames}
    assert parties == {"sim-1-1", "sim-1-2"}  # per-party form: each leg keys the digits
    for party in parties:
        mine = [p for p in presses if p.party == party]
        assert "".join(p.digit for p in mine) == "4#1", (party, presses)
        frames = got.frames[("sim-1", party)]
        first, last = frames[0].start, frames[-1].end
        for a, b in zip(mine, mine[1:], strict=False):
            assert a.end <= b.start  # in order, not overlapping
        for p in mine:
            assert first <= p.start < p.end <= last
            assert 0.05 <= (p.end - p.start) / p.sample_rate <= 0.5  # pjsua keys 200 ms each

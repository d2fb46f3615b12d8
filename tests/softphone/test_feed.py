import numpy as np

from records.device import DigitSignalled, LegAnswered, LegEnded, StreamLabel, StreamStats
from records.frames import AudioFrame
from softphone.feed import Feed


class Recorder:
    def __init__(self):
        self.calls = []

    def push(self, frame):
        self.calls.append(("push", frame.call_id, frame.party, frame.start))

    def end_party(self, call_id, party):
        self.calls.append(("end_party", call_id, party))

    def end_call(self, call_id, reason=None):
        self.calls.append(("end_call", call_id, *([reason] if reason else [])))

    def keyed(self, call_id, party, digit, start_s, end_s):
        self.calls.append(("keyed", call_id, party, digit, start_s, end_s))


def answered(leg, label):
    return LegAnswered(
        leg, "s-1", (StreamLabel(0, label, label),), "127.0.0.1:5060", "ringcentral", 1.0
    )


def test_per_party_legs_end_the_call_with_the_last_leg():
    rec = Recorder()
    feed = Feed(rec)
    feed.handle(answered("1", "agent"))
    feed.handle(answered("2", "customer"))
    feed.handle(AudioFrame("s-1", "agent", 16000, 0, np.zeros(320, np.int16)))
    feed.handle(LegEnded("1", "s-1", ("agent",), "BYE"))
    assert ("end_call", "s-1") not in rec.calls
    feed.handle(LegEnded("2", "s-1", ("customer",), "BYE"))
    assert rec.calls == [
        ("push", "s-1", "agent", 0),
        ("end_party", "s-1", "agent"),
        ("end_party", "s-1", "customer"),
        ("end_call", "s-1"),
    ]
    assert len(feed.sessions) == 0  # an ended session leaves nothing


def test_a_lost_leg_ends_its_call_saying_why():
    rec = Recorder()
    feed = Feed(rec)
    feed.handle(answered("1", "agent"))
    feed.handle(answered("2", "customer"))
    feed.handle(LegEnded("1", "s-1", ("agent",), "device process 1 died (signal 9)", lost=True))
    feed.handle(LegEnded("2", "s-1", ("customer",), "BYE"))
    assert rec.calls[-1] == ("end_call", "s-1", "device process 1 died (signal 9)")
    assert not feed.lost  # nothing left once the call has ended


def test_latest_stats_kept_per_party_until_the_call_ends():
    rec = Recorder()
    feed = Feed(rec)
    feed.handle(answered("1", "agent"))
    s = StreamStats("s-1", "agent", "PCMU", 100, 1, 0, 0, 0, 2.0, 160, 1, 0, 0, 0)
    feed.handle(s)
    assert feed.stats == {("s-1", "agent"): s}
    feed.handle(LegEnded("1", "s-1", ("agent",), "BYE"))
    assert feed.stats == {}


def test_a_named_session_reaches_the_pipeline_under_the_platform_call_id():
    rec = Recorder()
    names = {}
    feed = Feed(rec, names=names.get)
    feed.handle(answered("1", "mixed"))
    names["s-1"] = "uii-42"  # the platform adapter binds the INVITE to its call
    feed.handle(AudioFrame("s-1", "mixed", 16000, 0, np.zeros(320, np.int16)))
    names["s-1"] = "changed"  # once settled, a call keeps its name
    feed.handle(AudioFrame("s-1", "mixed", 16000, 320, np.zeros(320, np.int16)))
    feed.handle(LegEnded("1", "s-1", ("mixed",), "BYE"))
    assert rec.calls == [
        ("push", "uii-42", "mixed", 0),
        ("push", "uii-42", "mixed", 320),
        ("end_party", "uii-42", "mixed"),
        ("end_call", "uii-42"),
    ]
    assert feed.call_id("unknown") == "unknown"


def test_a_named_plain_invite_is_the_mixed_call_and_an_unnamed_one_keeps_its_label():
    rec = Recorder()
    names = {"s-1": "uii-7"}
    feed = Feed(rec, names=names.get)
    plain = LegAnswered("1", "s-1", (StreamLabel(0, "gw", "gw"),), "127.0.0.1:5060",
                        "fallback", 1.0)  # fmt: skip
    feed.handle(plain)
    feed.handle(AudioFrame("s-1", "gw", 8000, 0, np.zeros(160, np.int16)))
    feed.handle(LegEnded("1", "s-1", ("gw",), "BYE"))
    # a softphone dialling in by itself (nobody named it): the From user is the party
    feed.handle(LegAnswered("2", "s-2", (StreamLabel(0, "bob", "bob"),), "x", "fallback", 1.0))
    feed.handle(AudioFrame("s-2", "bob", 8000, 0, np.zeros(160, np.int16)))
    assert rec.calls == [
        ("push", "uii-7", "mixed", 0),
        ("end_party", "uii-7", "mixed"),
        ("end_call", "uii-7"),
        ("push", "s-2", "bob", 0),
    ]


def test_a_signalled_key_press_reaches_the_pipeline_in_seconds_under_the_call_name():
    rec = Recorder()
    feed = Feed(rec, names={"s-1": "uii-9"}.get)
    feed.handle(answered("1", "customer"))
    feed.handle(DigitSignalled("s-1", "customer", "#", 16000, 17600, 8000))
    assert rec.calls == [("keyed", "uii-9", "customer", "#", 2.0, 2.2)]

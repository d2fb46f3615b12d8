"""The bus's stream keys and entries, and its config's checks (pure)."""

import pytest

from sinks.bus_layout import (
    BusConfig,
    BusConfigError,
    call_key,
    call_of,
    control_entry,
    decode_call_entry,
    decode_control_entry,
    decode_index_entry,
    entries_for,
)
from sinks.hub import Outgoing
from sinks.protocol import RecordingControl

CONFIG = BusConfig("redis://127.0.0.1:6379/0", stream_prefix="li")


def msg(kind: str, seq: int = 1, party: str | None = None) -> Outgoing:
    return Outgoing("c:1", seq, kind, party, b'{"type": "%s", "seq": %d}' % (kind.encode(), seq))


def test_call_keys_round_trip_ids_with_colons():
    assert call_key("li", "c:1") == "li:call:c:1"
    assert call_of("li", "li:call:c:1") == "c:1"
    assert call_of("li", "li:calls") is None
    assert call_of("li", "other:call:x") is None


def test_an_event_is_one_call_entry_with_its_seq_and_bytes_and_decodes_back():
    partial = msg("transcript.partial", 7, "agent")
    [entry] = entries_for(partial, CONFIG, "node-a")
    assert entry.key == "li:call:c:1"
    assert entry.fields == {"seq": "7", "type": "transcript.partial", "party": "agent",
                            "json": partial.data, "node": "node-a"}  # fmt: skip
    assert entry.maxlen == CONFIG.maxlen_per_call
    assert entry.droppable and entry.ttl_s is None
    # as Redis gives it back: bytes keys and values
    raw = {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in entry.fields.items()}
    back = decode_call_entry("c:1", raw)
    assert back.origin == "node-a"
    assert (back.call_id, back.seq, back.type, back.party, back.data) == (
        "c:1", 7, "transcript.partial", "agent", partial.data)  # fmt: skip


def test_call_start_and_end_also_go_to_the_index_and_set_the_streams_expiry():
    started, start_index = entries_for(msg("call.started", 1), CONFIG)
    assert started.ttl_s == 0 and not started.droppable  # persist: a reused id mid-call
    assert start_index.key == "li:calls" and start_index.maxlen == CONFIG.index_maxlen
    assert decode_index_entry(start_index.fields).event == "started"
    ended, end_index = entries_for(msg("call.ended", 9), CONFIG)
    assert ended.ttl_s == CONFIG.ended_ttl_s
    entry = decode_index_entry(end_index.fields)
    assert (entry.event, entry.call_id, entry.seq) == ("ended", "c:1", 9)
    keep = BusConfig("redis://h/0", ended_ttl_s=0)
    assert entries_for(msg("call.ended", 9), keep)[0].ttl_s is None
    assert len(entries_for(msg("transcript.final", 2, "agent"), CONFIG)) == 1


@pytest.mark.parametrize(
    "fields, problem",
    [
        ({b"type": b"x", b"party": b"", b"json": b"{}"}, "no 'seq'"),
        ({b"seq": b"0", b"type": b"x", b"party": b"", b"json": b"{}"}, "seq must be >= 1"),
        ({b"seq": b"x", b"type": b"x", b"party": b"", b"json": b"{}"}, "invalid literal"),
        ({b"seq": b"1", b"type": b"x", b"party": b""}, "no 'json'"),
        ({b"seq": b"1", b"type": b"x", b"party": b"", b"json": b"[1]"}, "not an object"),
    ],
)
def test_malformed_call_entries_are_refused(fields, problem):
    with pytest.raises(ValueError, match=problem):
        decode_call_entry("c", fields)


def test_control_entries_round_trip():
    for pause in (True, False):
        entry = control_entry(RecordingControl("c:1", pause), CONFIG)
        assert entry.key == "li:control"
        assert decode_control_entry(entry.fields) == RecordingControl("c:1", pause)
    with pytest.raises(ValueError, match="unknown control action"):
        decode_control_entry({"call_id": "c", "action": "stop"})


@pytest.mark.parametrize(
    "kwargs, problem",
    [
        ({"url": "http://h/0"}, "url must look like"),
        ({"url": "redis://"}, "url must look like"),
        ({"url": "redis:nope"}, "url must look like"),
        ({"url": "redis://h:99999/0"}, "url must look like"),
        ({"url": "redis://h/zero"}, "url must look like"),
        ({"url": "unix://relative.sock"}, "url must look like"),
        ({"maxlen_per_call": 10}, "maxlen_per_call must be >= 100"),
        ({"index_maxlen": 0}, "index_maxlen must be >= 100"),
        ({"queue_entries": 1}, "queue_entries must be within"),
        ({"ended_ttl_s": -1}, "ended_ttl_s must be >= 0"),
        ({"stream_prefix": ""}, "stream_prefix"),
        ({"stream_prefix": "a b"}, "stream_prefix"),
    ],
)
def test_bad_configs_are_refused(kwargs, problem):
    with pytest.raises(BusConfigError, match=problem):
        BusConfig(**{"url": "redis://127.0.0.1:6379/0", **kwargs})


def test_where_hides_the_password():
    config = BusConfig("redis://user:secret@redis.example:6380/2")
    assert config.where == "redis://redis.example:6380/2"
    assert "secret" not in config.where

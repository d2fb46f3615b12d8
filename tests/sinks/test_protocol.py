"""Client messages: every accepted shape, and a specific error for each bad one."""

from __future__ import annotations

import pytest

from sinks.filters import Filter
from sinks.protocol import (
    Ping,
    RecordingControl,
    RequestError,
    Subscribe,
    Unsubscribe,
    parse_request,
)


def test_subscribe_defaults_to_everything():
    assert parse_request('{"type": "subscribe"}') == Subscribe(Filter(), {}, False)


def test_subscribe_with_calls_parties_resume_and_replay():
    req = parse_request(
        '{"type": "subscribe", "calls": ["c1"], "parties": ["agent"],'
        ' "resume": {"c1": 7}, "replay": true, "partials": false}'
    )
    flt = Filter(frozenset({"c1"}), frozenset({"agent"}), partials=False)
    assert req == Subscribe(flt, {"c1": 7}, True)


def test_other_requests():
    assert parse_request('{"type": "unsubscribe"}') == Unsubscribe()
    assert parse_request('{"type": "ping", "id": 3}') == Ping(3)
    assert parse_request('{"type": "recording.pause", "call_id": "c"}') == RecordingControl(
        "c", True
    )
    assert parse_request('{"type": "recording.resume", "call_id": "c"}').pause is False


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{not json", "bad_json"),
        (b"\x00\x01", "binary"),
        ("[1, 2]", "bad_message"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"no": "type"}', "unknown_type"),
        ('{"type": "subscribe", "calls": "c1"}', "bad_field"),
        ('{"type": "subscribe", "calls": [1]}', "bad_field"),
        ('{"type": "subscribe", "resume": {"c": -1}}', "bad_field"),
        ('{"type": "subscribe", "resume": {"c": true}}', "bad_field"),
        ('{"type": "subscribe", "replay": "yes"}', "bad_field"),
        ('{"type": "subscribe", "partials": 0}', "bad_field"),
        ('{"type": "recording.pause"}', "bad_field"),
        ('{"type": "ping", "id": NaN}', "bad_json"),
        ('{"type": "ping", "id": [-Infinity]}', "bad_json"),
        ('{"type": "ping", "id": 1e999}', "bad_json"),
        ("[" * 30000 + "]" * 30000, "too_deep"),
        ('{"type": "ping", "id": ' + "[" * 40 + "]" * 40 + "}", "too_deep"),
    ],
)
def test_bad_messages_get_a_specific_code(text, code):
    with pytest.raises(RequestError) as err:
        parse_request(text)
    assert err.value.code == code
    assert err.value.to_dict()["type"] == "error"


def test_nesting_up_to_the_limit_is_fine():
    from sinks.protocol import MAX_DEPTH, nesting

    deep = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    req = parse_request('{"type": "ping", "id": ' + deep + "}")
    assert isinstance(req, Ping) and nesting(req.id) == MAX_DEPTH - 1
    assert nesting({"a": [1, {"b": []}], "c": 2}) == 4 and nesting(5) == 0

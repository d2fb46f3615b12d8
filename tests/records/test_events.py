from records.events import (
    CallEnded,
    CallStarted,
    PartyJoined,
    PartyLeft,
    TranscriptFinal,
    TranscriptPartial,
    Word,
)

COMMON = {"type", "call_id", "emitted_at"}
TRANSCRIPT = COMMON | {"party", "segment_id", "start", "end", "text"}


def test_json_forms():
    p = TranscriptPartial("c", "agent", "agent-1", 1.0, 2.5, "hello", 2.9, 3)
    assert (
        set(p.to_dict()) == TRANSCRIPT | {"revision"}
        and p.to_dict()["type"] == "transcript.partial"
    )
    f = TranscriptFinal(
        "c", "agent", "agent-1", 1.0, 2.5, "hello", 3.1, (Word("hello", 1.1, 1.6, 0.91234),)
    )
    d = f.to_dict()
    assert set(d) == TRANSCRIPT | {"words"} and d["words"] == [
        {"text": "hello", "start": 1.1, "end": 1.6, "probability": 0.912}
    ]
    assert (
        TranscriptFinal("c", "m", "m-1", 0, 1, "x", 1, speaker="speaker_1").to_dict()["speaker"]
        == "speaker_1"
    )
    assert set(CallStarted("c", 0).to_dict()) == COMMON
    assert set(PartyJoined("c", "agent", 8000, 0).to_dict()) == COMMON | {"party", "sample_rate"}
    assert set(PartyLeft("c", "agent", 1).to_dict()) == COMMON | {"party"}
    assert CallEnded("c", 9.87654, 9.8).to_dict()["emitted_at"] == 9.877


def test_speaker_fields_only_on_diarized_finals():
    word = Word("hi", 0.1, 0.3, 0.9, speaker="speaker_2")
    f = TranscriptFinal("c", "mixed", "mixed-1", 0, 1, "hi", 1, (word,), "speaker_2", "neutral")
    d = f.to_dict()
    assert (d["speaker"], d["speaker_kind"]) == ("speaker_2", "neutral")
    assert d["words"][0]["speaker"] == "speaker_2"
    plain = TranscriptFinal("c", "agent", "agent-1", 0, 1, "hi", 1, (Word("hi", 0.1, 0.3, 0.9),))
    assert "speaker" not in plain.to_dict() and "speaker_kind" not in plain.to_dict()
    assert "speaker" not in plain.to_dict()["words"][0]


def test_one_field_driven_serialiser_pins_the_json():
    from records.events import CallEnded, PartyJoined, TranscriptFinal, Word, to_json

    word = Word("hi", 0, 0.51234, 0.98765)
    final = TranscriptFinal("c", "agent", "agent-1", 0, 1.23456, "hi", 2, (word,))
    assert to_json(final) == (
        '{"type": "transcript.final", "call_id": "c", "party": "agent", "segment_id": "agent-1", '
        '"start": 0.0, "end": 1.235, "text": "hi", "emitted_at": 2.0, "words": [{"text": "hi", '
        '"start": 0.0, "end": 0.512, "probability": 0.988}]}'
    )  # speaker and speaker_kind are left out while None; ints become seconds
    assert PartyJoined("c", "a", 8000, 0).to_dict() == {
        "type": "party.joined", "call_id": "c", "party": "a", "sample_rate": 8000, "emitted_at": 0.0
    }  # fmt: skip
    assert to_json(CallEnded("c", 5, 5.5)).endswith('"emitted_at": 5.0, "duration": 5.5}')


def test_dtmf_event_json_matches_the_schema():
    import json
    from pathlib import Path

    import jsonschema

    from records.events import Dtmf

    schema = json.loads((Path(__file__).parents[2] / "schema" / "events.schema.json").read_text())
    event = Dtmf("c", "customer", "#", 1.23456, 1.3, "inband", 1.4)
    assert event.to_json() == (
        '{"type": "dtmf", "call_id": "c", "party": "customer", "digit": "#", "start": 1.235, '
        '"end": 1.3, "source": "inband", "emitted_at": 1.4}'
    )
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate({**event.to_dict(), "seq": 3})
    for bad in ({"digit": "E"}, {"source": "sip-info"}, {"digit": "12"}):
        assert not validator.is_valid({**event.to_dict(), "seq": 3, **bad}), bad

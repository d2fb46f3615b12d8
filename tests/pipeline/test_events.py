from pipeline.events import (
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

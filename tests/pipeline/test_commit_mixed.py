"""The streaming commit on a mixed (diarized) stream, with scripted decodes and a fake
speaker encoder (sans-I/O, no model): a speaker change cuts the rest of a commit."""

import numpy as np
import pytest

from pipeline.asr import AsrResult, AsrWord
from pipeline.commit import CommitConfig, after_seam, lost_its_way
from pipeline.diarize import DiarizeConfig
from pipeline.jobs import AsrJob, JobKind
from pipeline.party import PartyStream, StreamConfig
from pipeline.results import commit_of
from pipeline.turns import NEUTRAL, ROLE, SpeakerTurn
from pipeline.vad import SpeechEnd, SpeechStart
from records.frames import AudioFrame
from records.kinds import StreamKind
from tests.pipeline.test_diarize import fake_embed

RATE = 16000
CHANGE_S = 6.0  # speaker 1 hands over to speaker 2 here, after a 50 ms pause
SCRIPT = (
    ("Had", 0.2, 0.5), ("he", 0.5, 0.7), ("married", 0.7, 1.1), ("a", 1.1, 1.2),
    ("more", 1.2, 1.5), ("amiable", 1.5, 2.0), ("woman,", 2.0, 2.5), ("he", 2.7, 2.9),
    ("might", 2.9, 3.2), ("have", 3.2, 3.4), ("been", 3.4, 3.6), ("made", 3.6, 3.9),
    ("still", 3.9, 4.2), ("more", 4.2, 4.5), ("respectable", 4.5, 5.2), ("than", 5.2, 5.5),
    ("he", 5.5, 5.7), ("was", 5.7, 5.95),
    ("One", 6.2, 6.5), ("moment", 6.5, 6.9), ("please.", 6.9, 7.4),
)  # fmt: skip


def decode(job: AsrJob) -> AsrResult:
    """What the decoder hears in the job's audio, times from its start.  The final of a
    commit's rest decoded without the committed words' onset is what tiny.en lost its
    way on in the conv fixture (from 1 s before the cut, it heard just "the", log-prob
    -3.7): it comes back rejected by the guards."""
    a, b = job.start_s, job.end_s
    if job.kind is JobKind.FINAL and job.seam is not None and a > job.seam.start:
        return AsrResult("", (), 0.2, -3.7, 0.3, rejected="low_confidence")
    heard = [(t, s, e) for t, s, e in SCRIPT if e > a + 0.05 and e <= b]
    if heard and job.kind is JobKind.PARTIAL:
        t, s, e = heard[-1]
        heard[-1] = (t.rstrip(".,?!"), s, e)
    ws = tuple(AsrWord(f" {t}", max(0.0, s - a), e - a, 0.9) for t, s, e in heard)
    result = AsrResult("".join(w.text for w in ws).strip(), ws, 0.01, -0.2, 1.2)
    return after_seam(result, a, job.seam) if job.seam is not None else result


@pytest.mark.parametrize("from_onset", [True, False])
def test_a_speaker_change_right_after_a_commit_loses_no_word_of_the_rest(from_onset):
    """By default the rest's final decodes from the committed words' onset; without that
    it decodes from about 1 s before the cut, is rejected, and is decoded again from there."""
    config = StreamConfig(commit=CommitConfig(rest_from_onset=from_onset))
    stream = PartyStream("c", "mixed", RATE, config, embed=fake_embed, kind=StreamKind.MIXED)
    assert stream.commits  # a mixed stream commits too, where its diarizer knows who spoke
    assert stream.agreement is not None
    heard: list[tuple[str, str | None]] = []  # (word, speaker) of every final, in order
    commits, retried, rejected = [], [], []

    def final(job: AsrJob) -> None:
        result = decode(job)
        if lost_its_way(result):
            rejected.append(job)
            again = stream.retry(job, 0.0)
            assert again is not None and stream.retry(again, 0.0) is None  # once only
            retried.append(again)
            job, result = again, decode(again)
        speaker = job.speakers[-1].speaker if job.speakers else None
        heard.extend((w.text.strip(), speaker) for w in result.words)

    def run(jobs: list[AsrJob]) -> None:
        for job in jobs:
            if job.kind is JobKind.FINAL:
                final(job)
            elif (commit := stream.decoded(job, decode(job))) is not None:
                event = commit_of(job, commit, 0.0)
                commits.append(commit)
                heard.extend((w.text, event.speaker) for w in event.words)

    run(stream._vad([SpeechStart(0, 0)], 0.0))
    step = RATE // 50
    end = int(8.0 * RATE)
    for at in range(0, end, step):
        voice = 1 if at < 5.95 * RATE else 0 if at < CHANGE_S * RATE else 2  # a 50 ms pause
        pcm = np.full(step, voice / 10, dtype=np.float32)
        run(stream._audio(AudioFrame("c", "mixed", RATE, at, pcm), at / RATE))
    run(stream._vad([SpeechEnd(0, end)], 8.0))

    # "woman," was committed, then the change cut the rest ("he ... was") before its end
    (commit,) = commits
    assert commit.words[-1].text.strip() == "woman," and 2.5 <= commit.cut <= 2.6
    assert [w for w, _ in heard] == [t for t, _, _ in SCRIPT]  # none lost, none doubled
    assert {s for _, s in heard[:18]} == {"speaker_1"}
    assert {s for _, s in heard[18:]} == {"speaker_2"}
    if from_onset:
        assert not rejected and not retried
        return
    (first,) = rejected  # the rest's final, decoded from ~1 s before the cut, came back empty
    assert first.seam == commit.seam and first.start_s < commit.cut
    assert abs(first.end_s - CHANGE_S) <= 0.25
    # ... and went back to the decoder from the committed words' onset
    (again,) = retried
    assert again.start_s == commit.start == 0.0 and again.end_s == first.end_s
    assert again.revision == first.revision + 1 and again.segment_id == first.segment_id
    assert [w for w, _ in heard] == [t for t, _, _ in SCRIPT]  # none lost, none doubled
    assert {s for _, s in heard[:18]} == {"speaker_1"}
    assert {s for _, s in heard[18:]} == {"speaker_2"}


def test_a_voice_beyond_the_told_roles_is_not_committed_under_a_new_label():
    """With the roles told and both voices known, a turn unlike them all is more often an
    overlap than a third party: its words wait for the turn to close to be labelled."""
    config = StreamConfig(diarize=DiarizeConfig(roles=("agent", "customer")))
    stream = PartyStream("c", "mixed", RATE, config, embed=fake_embed, kind=StreamKind.MIXED)
    assert stream.diarizer is not None
    stream.policy.speech_start(0)
    pcm = np.zeros(3 * RATE, np.float32)
    said = (("Please", 0.2, 0.5), ("enter", 0.5, 0.8), ("your", 0.8, 1.0),
            ("password,", 1.0, 1.5), ("followed", 1.7, 2.1))  # fmt: skip
    ws = tuple(AsrWord(f" {t}", a, b, 0.9) for t, a, b in said)
    result = AsrResult("".join(w.text for w in ws).strip(), ws, 0.01, -0.2, 1.2)

    def commits(speaker: str, new: bool) -> bool:
        turn = SpeakerTurn(0, 3 * RATE, speaker, ROLE if speaker != "speaker_3" else NEUTRAL,
                           1.0, new)  # fmt: skip
        segment = stream.policy.segment_id
        assert segment is not None
        job = AsrJob("c", "mixed", segment, JobKind.PARTIAL, 1, 0, pcm, RATE, 0.0,
                     words=True, speakers=(turn,))  # fmt: skip
        return any(stream.decoded(job, result) is not None for _ in range(2))

    assert commits("agent", new=True)  # the call's first voice founds a role: no doubt
    stream.policy.speech_start(0)
    stream.diarizer.clusters.assign(np.eye(4)[0], 2000)
    stream.diarizer.clusters.assign(np.eye(4)[1], 2000)
    assert not commits("speaker_3", new=True)  # both roles known: a third voice waits
    assert commits("agent", new=False)

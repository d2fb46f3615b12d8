"""The streaming commit with scripted decoder outputs (sans-I/O, no model)."""

import numpy as np
import pytest

from pipeline.asr import AsrResult, AsrWord
from pipeline.commit import (
    Commit,
    CommitConfig,
    LocalAgreement,
    Pause,
    Seam,
    TimedWord,
    after_seam,
    agreed,
    timed,
)
from pipeline.jobs import JobKind
from pipeline.party import PartyStream
from records.frames import AudioFrame
from tests.conftest import utterance_pcm


def words(*spec):
    """``("Hello", 0.0, 0.4), ...`` as call-clock words."""
    return tuple(TimedWord(f" {t}", a, b, 0.9) for t, a, b in spec)


def result(*spec):
    ws = tuple(AsrWord(f" {t}", a, b, 0.9) for t, a, b in spec)
    return AsrResult("".join(w.text for w in ws).strip(), ws, 0.01, -0.2, 1.2)


FIRST = (("Hello", 0.2, 0.6), ("there", 0.6, 1.0), ("how", 1.1, 1.3), ("are", 1.3, 1.5))
PUNCTUATED = (("Hello", 0.2, 0.6), ("there,", 0.6, 1.0), ("how", 1.1, 1.3), ("are", 1.3, 1.5))


def test_two_decodes_must_agree_before_anything_is_committed():
    la = LocalAgreement(CommitConfig(min_ms=500))
    assert la.hypothesis("a-1", 0.0, 2.0, words(*PUNCTUATED)) is None  # one decode: unstable
    commit = la.hypothesis("a-1", 0.0, 2.5, words(*PUNCTUATED, ("you", 1.5, 1.8)))
    assert commit is not None and commit.text == "Hello there,"
    assert commit.segment_id == "a-1" and commit.start == 0.0
    assert 1.0 <= commit.cut <= 1.1  # after "there," and before "how"
    assert commit.seam == Seam(commit.cut, ("hello", "there"), commit.start)


def test_words_the_decodes_disagree_on_are_not_committed():
    la = LocalAgreement(CommitConfig(min_ms=500))
    la.hypothesis("a-1", 0.0, 2.0, words(("Hollow", 0.2, 0.6), *PUNCTUATED[1:]))
    assert la.hypothesis("a-1", 0.0, 2.5, words(*PUNCTUATED)) is None
    assert agreed(words(*FIRST), words(*PUNCTUATED)) == 4  # case and punctuation aside


def test_a_new_segment_starts_the_agreement_over():
    la = LocalAgreement(CommitConfig(min_ms=500))
    la.hypothesis("a-1", 0.0, 2.0, words(*PUNCTUATED))
    assert la.hypothesis("a-2", 0.0, 2.5, words(*PUNCTUATED)) is None


def test_no_cut_at_an_abbreviation_too_early_or_too_near_the_audio_end():
    la = LocalAgreement(CommitConfig(min_ms=500, guard_ms=300))
    mr = words(("Mr.", 0.2, 0.6), ("John", 0.6, 1.0), ("Smith", 1.0, 1.4))
    la.hypothesis("a-1", 0.0, 2.0, mr)
    assert la.hypothesis("a-1", 0.0, 2.5, mr) is None
    la = LocalAgreement(CommitConfig(min_ms=1500))  # "there," ends 1.0 s into the segment
    la.hypothesis("a-1", 0.0, 2.0, words(*PUNCTUATED))
    assert la.hypothesis("a-1", 0.0, 2.5, words(*PUNCTUATED)) is None
    la = LocalAgreement(CommitConfig(min_ms=500, guard_ms=300))
    late = words(("Hello", 0.2, 0.6), ("there.", 0.6, 1.9))
    la.hypothesis("a-1", 0.0, 2.0, late)
    assert la.hypothesis("a-1", 0.0, 2.0, late) is None  # "there." may still grow


def test_stable_words_past_force_ms_are_cut_without_punctuation():
    la = LocalAgreement(CommitConfig(min_ms=500, force_ms=1200))
    la.hypothesis("a-1", 0.0, 2.0, words(*FIRST))
    commit = la.hypothesis("a-1", 0.0, 2.5, words(*FIRST, ("you", 1.5, 1.8)))
    assert commit is not None and commit.text == "Hello there how are"


def test_stable_words_before_a_vad_pause_are_cut_without_punctuation():
    la = LocalAgreement(CommitConfig(min_ms=500))
    pause = (Pause(1.05, 1.3),)  # between "there" (ends 1.0) and "how" (starts 1.1)
    later = words(("Hello", 0.2, 0.6), ("there", 0.6, 1.0), ("how", 1.3, 1.5), ("are", 1.5, 1.8))
    la.hypothesis("a-1", 0.0, 2.0, later, pause)
    commit = la.hypothesis("a-1", 0.0, 2.5, later, pause)
    assert commit is not None and commit.text == "Hello there"
    assert 1.05 <= commit.cut <= 1.16  # in the pause


def test_a_pause_cut_lies_in_the_pause_and_never_after_a_word_over_a_pause():
    la = LocalAgreement(CommitConfig(min_ms=500))
    seven = words(("You", 0.2, 0.5), ("entered", 0.5, 0.9), ("Jones", 1.0, 1.6))
    pauses = (Pause(1.35, 1.5), Pause(1.95, 2.1))  # "Smith" (not decoded yet) is 1.5..1.95
    la.hypothesis("a-1", 0.0, 2.0, seven, pauses)
    commit = la.hypothesis("a-1", 0.0, 2.1, seven, pauses)
    assert commit is not None and commit.text == "You entered Jones"
    assert 1.35 <= commit.cut <= 1.43  # "Jones" ends stretched: "Smith" stays with the rest
    la = LocalAgreement(CommitConfig(min_ms=500))
    over = words(("You", 0.2, 0.5), ("entered", 0.5, 0.9), ("Jones", 1.0, 1.95))
    la.hypothesis("a-1", 0.0, 2.0, over, pauses)
    assert la.hypothesis("a-1", 0.0, 2.2, over, pauses) is None  # "Jones" spans a pause
    la = LocalAgreement(CommitConfig(min_ms=500))
    long = words(("You", 0.2, 0.5), ("entered", 0.5, 0.9), ("Jones", 0.9, 1.95))
    la.hypothesis("a-1", 0.0, 2.0, long, pauses[1:])  # the VAD missed the first pause
    assert la.hypothesis("a-1", 0.0, 2.2, long, pauses[1:]) is None  # a 1 s word: no cut


def test_no_cut_at_a_pause_inside_a_word_or_too_early():
    la = LocalAgreement(CommitConfig(min_ms=500))
    inside = (Pause(1.5, 1.7),)  # "how" is 1.3..1.9: its middle lies in the pause
    how = words(("Hello", 0.2, 0.6), ("there", 0.6, 1.0), ("how", 1.3, 1.9), ("are", 1.9, 2.0))
    la.hypothesis("a-1", 0.0, 2.5, how, inside)
    assert la.hypothesis("a-1", 0.0, 3.0, how, inside) is None
    la = LocalAgreement(CommitConfig(min_ms=1500))  # "there" ends 1.0 s into the segment
    la.hypothesis("a-1", 0.0, 2.0, words(*FIRST), (Pause(1.0, 1.1),))
    assert la.hypothesis("a-1", 0.0, 2.5, words(*FIRST), (Pause(1.0, 1.1),)) is None


def test_a_word_before_a_heard_pause_needs_no_guard():
    said = words(("Hello", 0.2, 0.6), ("there", 0.6, 1.0))  # ends 0.2 s before the audio
    la = LocalAgreement(CommitConfig(min_ms=500, guard_ms=300, pause_heard_ms=100))
    la.hypothesis("a-1", 0.0, 1.1, said, (Pause(1.0, 1.1),))
    commit = la.hypothesis("a-1", 0.0, 1.2, said, (Pause(1.0, 1.2),))
    assert commit is not None and commit.text == "Hello there" and commit.cut <= 1.2
    la = LocalAgreement(CommitConfig(min_ms=500, guard_ms=300, pause_heard_ms=100))
    la.hypothesis("a-1", 0.0, 1.2, said, (Pause(1.15, 1.3),))
    assert la.hypothesis("a-1", 0.0, 1.2, said, (Pause(1.15, 1.3),)) is None  # 50 ms heard


def test_a_decoder_loop_is_never_committed():
    la = LocalAgreement(CommitConfig(min_ms=500))
    loop = words(("Thanks.", 0.2, 0.6), ("Thanks.", 0.6, 1.0), ("Bye", 1.1, 1.5))
    la.hypothesis("a-1", 0.0, 2.0, loop)
    assert la.hypothesis("a-1", 0.0, 2.5, loop) is None


def test_punctuation_words_join_the_word_before():
    ws = timed(result(("Hi", 0.0, 0.3), (",", 0.3, 0.3), ("you", 0.4, 0.6)).words, 10.0)
    assert [w.text for w in ws] == [" Hi,", " you"] and ws[0].start == 10.0


def test_after_seam_drops_the_overlap_and_a_repeated_straddling_word():
    seam = Seam(5.0, ("sense", "of", "the"), 3.0)
    # decoded from 4.0 s: "of the" lie in the overlap, "the" straddles the cut
    r = after_seam(result(("of", 0.5, 0.7), ("the", 0.8, 1.1), ("latency", 1.1, 1.6)), 4.0, seam)
    assert r.text == "latency" and [w.text for w in r.words] == [" latency"]
    # no repeat of the tail: only the words that end before the cut go
    r = after_seam(result(("off", 0.5, 0.7), (".", 0.7, 0.7), ("Then", 1.1, 1.4)), 4.0, seam)
    assert r.text == "Then"
    untouched = result(("latency", 1.1, 1.6))
    assert after_seam(untouched, 4.0, seam) is untouched


def test_the_rest_resumes_at_the_onset_of_a_word_the_overlap_would_cut():
    """A clip that starts 30 ms into "He" read "an ill disposed" as "an old sposed"."""
    said = words(("He", 51.14, 51.5), ("was", 51.5, 51.74), ("not", 51.74, 52.19))
    commit = Commit("c-4", said, 51.1, 52.17)
    assert commit.resume(1.0) == 51.14  # not 51.17
    assert commit.resume(0.5) == 51.5  # 51.67 lies in "was"
    assert commit.resume(1.2) == pytest.approx(50.97)  # before the words: as it is
    gap = Commit("c-4", words(("Yes.", 0.2, 0.5), ("No.", 0.9, 1.2)), 0.0, 1.3)
    assert gap.resume(0.6) == pytest.approx(0.7)  # between two words: as it is


def test_the_rest_after_a_spelling_is_decoded_without_its_letters():
    """Letters before a word make the decoder read it as letters ("d a s h" then
    "asterisk": "H. Afterisk"): a spelling cut at a heard pause resumes at the cut,
    and the final of the rest starts there too."""
    dash = words(("d", 75.4, 75.9), ("a", 76.0, 76.6), ("s", 76.7, 77.2), ("h", 77.3, 77.85))
    spelled = Commit("a-26", dash, 74.0, 77.95, at_pause=True)
    assert spelled.spelled and spelled.resume(1.0) == 77.95
    assert spelled.seam.start == 77.95 and spelled.seam.tail == ("d", "a", "s", "h")
    unheard = Commit("a-26", dash, 74.0, 77.95)  # no pause heard: the next word may be clipped
    assert not unheard.spelled and unheard.resume(1.0) == 76.7 and unheard.seam.start == 74.0
    said = Commit("a-26", words(("He", 51.14, 51.5), ("was", 51.5, 51.74)), 51.1, 52.1, True)
    assert not said.spelled and said.seam.start == 51.1  # words: their audio is context
    article = Commit("a-3", words(("like", 1.0, 1.3), ("a", 1.3, 1.4)), 0.5, 1.6, True)
    assert not article.spelled  # one letter is no spelling ("I'd like a ... cup of tea")
    la = LocalAgreement(CommitConfig(min_ms=500))
    more = dash + words(("asterisk", 78.05, 78.9), ("is", 78.9, 79.1))
    pauses = (Pause(77.85, 78.05),)
    la.hypothesis("a-26", 75.3, 79.5, more, pauses)
    commit = la.hypothesis("a-26", 75.3, 79.5, more, pauses)
    assert commit is not None and commit.text == "d a s h" and commit.spelled


def test_a_word_of_the_rest_never_starts_before_the_cut():
    """A decoder that skips the committed words in the overlap stretches its first word
    back over them ("No" timed from the decode's start): it starts at the cut instead,
    short enough to be cut at the pause after it."""
    seam = Seam(71.36, ("for", "those", "keywords"), 69.2)
    r = after_seam(result(("No", 0.0, 1.38), ("one", 1.96, 2.43)), 70.36, seam)
    assert [(w.text.strip(), round(w.start, 2), round(w.end, 2)) for w in r.words] == [
        ("No", 1.0, 1.38), ("one", 1.96, 2.43)]  # fmt: skip


SCRIPT = (
    ("Hello", 0.2, 0.6), ("there,", 0.6, 1.0), ("how", 1.1, 1.3), ("are", 1.3, 1.5),
    ("you", 1.5, 1.8), ("today?", 1.8, 2.3), ("I", 2.6, 2.7), ("am", 2.7, 2.9),
    ("fine.", 2.9, 3.4), ("Thanks", 3.6, 4.0), ("a", 4.0, 4.1), ("lot", 4.1, 4.5),
    ("for", 4.5, 4.7), ("asking,", 4.7, 5.2), ("really.", 5.3, 5.8),
)  # fmt: skip


def scripted_decode(a: float, b: float, final: bool) -> AsrResult:
    """What a decoder hears in [a, b): every word that ends inside it, a word cut at
    the start included (a clipped word is still recognised), times from ``a``; the
    last word loses its punctuation in a partial, as Whisper's often does."""
    heard = [(t, s, e) for t, s, e in SCRIPT if e > a + 0.05 and e <= b]
    if heard and not final:
        t, s, e = heard[-1]
        heard[-1] = (t.rstrip(".,?!"), s, e)
    return result(*((t, max(0.0, s - a), e - a) for t, s, e in heard))


def test_no_word_is_lost_or_doubled_across_cuts():
    """A party's stream driven by scripted decodes: commits, then the segment's final."""
    stream = PartyStream("c", "agent", 16000)
    policy = stream.policy
    policy.speech_start(0)
    out: list[str] = []
    cuts = []
    n = 16000 * 6
    jobs = []
    for s in range(0, n, 320):
        jobs += policy.audio(AudioFrame("c", "agent", 16000, s, np.zeros(320, np.float32)), 0.0)
        for job in jobs:
            r = scripted_decode(job.start_s, job.end_s, final=False)
            if job.seam is not None:
                # 1 s before the cut, or the onset of the word that instant falls inside
                inside = [a for _, a, b in SCRIPT if a < job.seam.cut - 1.0 < b]
                back = inside[0] if inside else job.seam.cut - 1.0
                assert job.start_s == pytest.approx(back, abs=0.01)
                r = after_seam(r, job.start_s, job.seam)
            commit = stream.decoded(job, r)
            if commit is not None:
                out += [w.text.strip() for w in commit.words]
                cuts.append(commit.cut)
        jobs = []
    (final,) = policy.speech_end(n, 6.0)
    assert final.kind is JobKind.FINAL and final.seam is not None
    r = after_seam(
        scripted_decode(final.start_s, final.end_s, final=True), final.start_s, final.seam
    )
    out += [w.text.strip() for w in r.words]
    assert len(cuts) >= 3  # "there," "today?" "fine." ... each committed before the end
    assert out == [t for t, _, _ in SCRIPT]
    assert final.segment_id == f"agent-{len(cuts) + 1}"


def test_commit_config_is_validated():
    with pytest.raises(ValueError):
        CommitConfig(min_ms=5000, force_ms=1000)
    with pytest.raises(ValueError):
        CommitConfig(overlap_ms=-1)


# -- the real model on real speech ------------------------------------------
def test_a_long_real_turn_gets_finals_before_it_ends_with_no_word_lost_or_doubled(engine, call2):
    """call2's customer (a LibriVox reader): a 7 s and a 3 s turn, decodes drained every
    100 ms of audio so the partials that drive the commit all come back in order."""
    from listenin.replay import PartyAudio, frames
    from listenin.wer import normalize, word_error_rate
    from pipeline.runtime import Pipeline

    events = []
    pipeline = Pipeline(engine, events.append)
    pcm = call2["audio"]["customer"][: 8000 * 34]
    drained = 0.0
    for t, frame in frames("c", [PartyAudio("customer", 8000, pcm)]):
        if t >= drained:
            pipeline.pool.wait_idle()
            drained = t + 0.1
        pipeline.push(frame)
    pipeline.pool.wait_idle()
    pipeline.end_call("c")
    pipeline.pool.wait_idle()
    pipeline.close()
    finals = [e for e in events if e.type == "transcript.final" and e.text]
    turns = [u for u in call2["utterances"] if u["party"] == "customer" and u["end"] < 34]
    assert pipeline.stats.commits >= 1
    assert any(f.emitted_at < turns[0]["end"] - 0.5 for f in finals)  # a final mid-turn
    ref = normalize(" ".join(u["text"] for u in turns))
    assert word_error_rate(" ".join(ref), " ".join(f.text for f in finals)) < 0.15
    for a, b in zip(finals, finals[1:], strict=False):
        assert b.start >= a.end - 0.01  # in order, never over the same audio twice
        seam = normalize(a.text)[-1:] + normalize(b.text)[:1]
        assert seam[0] != seam[1], seam  # nothing doubled at a cut
        assert any(ref[i : i + 2] == seam for i in range(len(ref) - 1)), seam  # nor lost


def test_a_number_read_out_is_not_cut_at_its_commas():
    """ "4, 5, 3, 2," is not four clauses: a card or phone number stays in one final (the
    redaction judges it whole); a forced cut backs off to the word before the number."""
    from pipeline.commit import CommitConfig, LocalAgreement, TimedWord

    said = [" You", " entered", " 4,", " 5,", " 3,", " 2,", " 0,", " 1,"]
    words = tuple(TimedWord(w, 0.5 * i, 0.5 * i + 0.4, 0.9) for i, w in enumerate(said))
    agree = LocalAgreement(CommitConfig(guard_ms=0, force_ms=60000))
    assert agree.hypothesis("s", 0.0, 4.0, words) is None
    assert agree.hypothesis("s", 0.0, 4.0, words) is None  # agreed, but no clause end
    forced = LocalAgreement(CommitConfig(guard_ms=0, force_ms=3000))
    forced.hypothesis("s", 0.0, 4.0, words)
    commit = forced.hypothesis("s", 0.0, 4.0, words)
    assert commit is not None and commit.text == "You entered"
    digits = tuple(TimedWord(f" {d},", 0.5 * i, 0.5 * i + 0.4, 0.9) for i, d in enumerate("4532"))
    only = LocalAgreement(CommitConfig(guard_ms=0, force_ms=1000))
    assert only.hypothesis("s", 0.0, 2.5, digits) is None
    assert only.hypothesis("s", 0.0, 2.5, digits) is None  # nothing but a number: not forced


def test_no_pause_cut_inside_a_number_read_out():
    """Digits come with short pauses between them: "4 <pause> 5 <pause> 3" stays one final."""
    la = LocalAgreement(CommitConfig(min_ms=500))
    said = words(("card", 0.1, 0.5), ("4", 0.6, 0.9), ("5", 1.1, 1.4), ("3", 1.6, 1.9))
    pauses = (Pause(0.9, 1.1), Pause(1.4, 1.6))
    la.hypothesis("a-1", 0.0, 2.6, said, pauses)
    assert la.hypothesis("a-1", 0.0, 2.7, said, pauses) is None


def test_a_long_pause_ends_a_number_read_out():
    """A pause of ``number_pause_ms`` after the last digit ends the number: its final need
    not wait for the next word ("1 9 8 4" <300 ms> "d a s h")."""
    la = LocalAgreement(CommitConfig(min_ms=500, number_pause_ms=250))
    said = words(("No,", 0.1, 0.5), ("1", 0.7, 1.0), ("9", 1.2, 1.5), ("8", 1.7, 2.0))
    pauses = (Pause(0.5, 0.7), Pause(1.0, 1.2), Pause(1.5, 1.7), Pause(2.0, 2.3))
    la.hypothesis("a-1", 0.0, 2.3, said, pauses)
    commit = la.hypothesis("a-1", 0.0, 2.3, said, pauses)
    assert commit is not None and commit.text == "No, 1 9 8"
    assert 2.0 <= commit.cut <= 2.15  # in the pause's first half


def test_letters_spelled_out_stay_together_as_digits_do():
    """ "d a s h": a letter alone decodes badly, so a spelling is not cut between letters."""
    la = LocalAgreement(CommitConfig(min_ms=500))
    said = words(("Dash,", 0.1, 0.6), ("d", 0.8, 1.1), ("a", 1.3, 1.6), ("s", 1.8, 2.1))
    pauses = (Pause(0.6, 0.8), Pause(1.1, 1.3), Pause(1.6, 1.8))
    la.hypothesis("a-1", 0.0, 2.8, said, pauses)
    commit = la.hypothesis("a-1", 0.0, 2.9, said, pauses)
    assert commit is not None and commit.text == "Dash,"  # cut before the spelling only


def test_a_long_pause_after_a_letter_does_not_end_a_spelling():
    """A letter's unvoiced end ("s", "h") sounds like a pause, and a letter alone decodes
    as nothing: a spelling is over only when a word that is no letter follows (digits
    still end at a long pause, above)."""
    la = LocalAgreement(CommitConfig(min_ms=500, number_pause_ms=250))
    said = words(("Dash,", 0.1, 0.6), ("d", 0.8, 1.1), ("a", 1.3, 1.6), ("s", 1.8, 2.0))
    pauses = (Pause(0.6, 0.8), Pause(1.1, 1.3), Pause(1.6, 1.8), Pause(2.0, 2.4))
    la.hypothesis("a-1", 0.0, 2.4, said, pauses)
    commit = la.hypothesis("a-1", 0.0, 2.4, said, pauses)
    assert commit is not None and commit.text == "Dash,"  # not "Dash, d a s"
    la = LocalAgreement(CommitConfig(min_ms=500, number_pause_ms=250))
    more = said + words(("h", 2.4, 2.8), ("asterisk", 3.0, 3.7), ("is", 3.8, 4.0))
    pauses += (Pause(2.8, 3.0),)
    la.hypothesis("a-1", 0.0, 4.3, more, pauses)
    commit = la.hypothesis("a-1", 0.0, 4.3, more, pauses)
    assert commit is not None and commit.text == "Dash, d a s h"  # "asterisk" ends it


def test_a_letter_agrees_with_any_letter_heard_at_the_same_time():
    """The decoder wavers between letters that sound alike ("d a s h", then "b a f h"):
    the spelling is stable, and the newer decode's letters are committed."""
    dash = words(("d", 0.8, 1.1), ("a", 1.3, 1.6), ("s", 1.8, 2.1), ("h", 2.3, 2.6))
    bafh = words(("B", 0.8, 1.1), ("A", 1.3, 1.6), ("F", 1.8, 2.0), ("H.", 2.3, 2.6))
    assert agreed(bafh, dash) == 4 and agreed(dash, bafh) == 4
    late = words(("d", 0.8, 1.1), ("a", 1.3, 1.6), ("f", 2.2, 2.4))  # another letter
    assert agreed(dash, late) == 2
    assert agreed(words(("age", 0.8, 1.1)), words(("h", 0.8, 1.1))) == 0  # no letter
    assert agreed(words(("7", 0.8, 1.1)), words(("a", 0.8, 1.1))) == 0  # a digit is no letter
    la = LocalAgreement(CommitConfig(min_ms=500))
    tail = words(("asterisk,", 2.8, 3.5))
    la.hypothesis("a-1", 0.0, 4.0, bafh + tail)
    commit = la.hypothesis("a-1", 0.0, 4.1, dash + tail)
    assert commit is not None and commit.text == "d a s h asterisk,"


def test_decodes_that_split_a_word_differently_agree_on_it():
    """ "keywords" and "key words" say the same; "key" alone is not "keywords"."""
    one = words(("those", 0.1, 0.4), ("keywords.", 0.4, 1.0))
    two = words(("those", 0.1, 0.4), ("key", 0.4, 0.7), ("words.", 0.7, 1.0))
    assert agreed(one, two) == 3 and agreed(two, one) == 2
    assert agreed(one, two[:2]) == 1


def test_decodes_that_write_a_number_differently_agree_on_it():
    """ "7 3 0 5" then "seven three zero five": the same words, so they are stable (and
    what is committed is the current decode's text)."""
    figures = words(("card", 0.1, 0.5), ("7", 0.6, 0.9), ("3", 1.0, 1.3), ("0", 1.4, 1.7))
    named = words(("card", 0.1, 0.5), ("seven", 0.6, 0.9), ("three", 1.0, 1.3), ("oh", 1.4, 1.7))
    assert agreed(figures, named) == 4 and agreed(named, figures) == 4
    hyphen = words(("no,", 0.1, 0.4), ("1-9", 0.5, 1.0), ("8", 1.1, 1.3))
    spelled = words(("No,", 0.1, 0.4), ("one,", 0.5, 0.7), ("nine,", 0.8, 1.0), ("8", 1.1, 1.3))
    assert agreed(hyphen, spelled) == 4  # "1-9" says "one nine"
    assert agreed(spelled, hyphen) == 3  # "1-9", "8" are all said by "one, nine, 8"
    cut_short = words(("No,", 0.1, 0.4), ("one", 0.5, 0.7))
    assert agreed(cut_short, hyphen) == 1  # "1-9" says more than "one": not yet stable
    assert agreed(words(("seven", 0.1, 0.4)), words(("seventy", 0.1, 0.4))) == 0
    la = LocalAgreement(CommitConfig(min_ms=500))
    first = (("You", 0.1, 0.3), ("said", 0.3, 0.6), ("7", 0.7, 0.9), ("5.", 1.0, 1.3))
    second = (("You", 0.1, 0.3), ("said", 0.3, 0.6), ("seven", 0.7, 0.9), ("five.", 1.0, 1.3))
    la.hypothesis("a-1", 0.0, 2.0, words(*first))
    commit = la.hypothesis("a-1", 0.0, 2.5, words(*second, ("If", 1.6, 1.8)))
    assert commit is not None and commit.text == "You said seven five."


def test_after_seam_drops_a_committed_number_written_the_other_way():
    seam = Commit("a-1", words(("is", 3.0, 3.2), ("seven", 3.3, 3.6)), 2.0, 4.0).seam
    assert seam.tail == ("is", "7")
    r = after_seam(result(("is", 0.0, 0.2), ("7", 0.3, 0.6), ("thanks", 1.1, 1.5)), 3.0, seam)
    assert r.text == "thanks"  # "7" is "seven": not doubled
    seam = Commit("a-1", words(("one,", 3.0, 3.3), ("nine", 3.4, 3.7)), 2.0, 4.0).seam
    r = after_seam(result(("1-9", 0.0, 0.7), ("dash", 1.1, 1.5)), 3.0, seam)
    assert r.text == "dash"


def test_after_seam_drops_a_committed_word_the_rest_splits_in_two():
    """ "keywords" committed, then "key words" in the overlap: both words go (the cut
    falls inside "words", so without the tail it would stay: "keywords words")."""
    seam = Seam(71.32, ("for", "those", "keywords"), 69.5)
    decoded = (("for", 0.0, 0.26), ("those", 0.26, 0.54), ("key", 0.54, 0.78),
               ("words.", 0.78, 1.14), ("No.", 1.54, 1.74))  # fmt: skip
    assert after_seam(result(*decoded), 70.25, seam).text == "No."
    joined = (("those", 0.26, 0.54), ("keywords.", 0.54, 1.14), ("No.", 1.54, 1.74))
    assert after_seam(result(*joined), 70.25, Seam(71.32, ("key", "words"), 69.5)).text == "No."


DIGITS = (("seven", 0.1, 0.4), ("three", 0.6, 0.9), ("zero", 1.1, 1.4), ("five.", 1.6, 1.9))
PAUSES = (Pause(0.4, 0.6), Pause(0.9, 1.1), Pause(1.4, 1.6), Pause(1.95, 2.15))  # < number_pause_ms


def test_a_number_read_out_is_cut_once_a_word_that_is_no_number_follows():
    """ "seven three zero five. If this is correct": the number is over at "If"."""
    said = words(*DIGITS, ("If", 2.3, 2.4), ("this", 2.4, 2.6))
    la = LocalAgreement(CommitConfig(min_ms=500))
    la.hypothesis("a-1", 0.0, 2.7, said, PAUSES)
    commit = la.hypothesis("a-1", 0.0, 2.8, said, PAUSES)
    assert commit is not None and commit.text == "seven three zero five."
    assert 1.95 <= commit.cut <= 2.1  # in the pause after "five", not at an earlier one
    expiry = words(("4", 0.1, 0.4), ("5", 0.6, 0.9), ("3", 1.1, 1.4), ("2,", 1.6, 1.9))
    expiry += words(("my", 2.3, 2.4), ("expiry", 2.4, 2.8), ("is", 2.8, 2.9))
    la = LocalAgreement(CommitConfig(min_ms=500))
    la.hypothesis("a-1", 0.0, 3.3, expiry)  # no pauses: the decoder's comma after "2"
    commit = la.hypothesis("a-1", 0.0, 3.4, expiry)
    assert commit is not None and commit.text == "4 5 3 2,"


def test_no_cut_after_a_number_that_is_the_last_word_or_goes_on():
    la = LocalAgreement(CommitConfig(min_ms=500))
    la.hypothesis("a-1", 0.0, 2.3, words(*DIGITS), PAUSES)
    assert la.hypothesis("a-1", 0.0, 2.4, words(*DIGITS), PAUSES) is None  # more may come
    more = words(*DIGITS, ("one", 2.3, 2.5), ("two", 2.7, 2.9))
    la = LocalAgreement(CommitConfig(min_ms=500))
    la.hypothesis("a-1", 0.0, 3.0, more, PAUSES)
    assert la.hypothesis("a-1", 0.0, 3.1, more, PAUSES) is None  # "five." "one": one number
    misheard = words(*DIGITS, ("for", 2.3, 2.5), ("two", 2.7, 2.9))
    la = LocalAgreement(CommitConfig(min_ms=500))
    la.hypothesis("a-1", 0.0, 3.0, misheard, PAUSES)
    assert la.hypothesis("a-1", 0.0, 3.1, misheard, PAUSES) is None  # "for" may be "four"
    clipped = words(*DIGITS, ("not", 2.3, 2.6))  # "nine" cut off by the audio's end
    la = LocalAgreement(CommitConfig(min_ms=500, guard_ms=300))
    la.hypothesis("a-1", 0.0, 2.6, clipped, PAUSES)
    assert la.hypothesis("a-1", 0.0, 2.6, clipped, PAUSES) is None


def test_a_party_stream_asks_for_a_partial_as_soon_as_its_speaker_pauses(call1):
    """Real speech, then 300 ms of silence (under the hangover): a partial comes once the
    pause is ``pause_partial_ms`` long, not at the next 500 ms mark."""
    rate = 8000
    words = utterance_pcm(call1, 0, pad_s=0.0)
    pcm = np.concatenate((np.zeros(rate // 2, np.int16), words, np.zeros(rate * 3 // 10, np.int16)))
    stream = PartyStream("c", "agent", rate)
    asked = []
    for i in range(0, pcm.size, 160):
        jobs = stream.push(AudioFrame("c", "agent", rate, i, pcm[i : i + 160]), now_s=i / rate)
        asked += [stream.vad.silence_ms for j in jobs if j.kind is JobKind.PARTIAL]
    assert asked[-1] == 120  # the last pause's partial: as it reached 120 ms, once
    assert all(ms in (0, 120) or ms < 100 for ms in asked)  # else the 500 ms cadence


def test_a_clause_end_past_the_settled_speakers_waits_but_a_pause_does_not():
    """A mixed stream passes ``settled``: a clause end the diarizer has not judged yet is
    not cut (the speaker may change inside it); a pause is where turns hand over."""
    said = words(("Hello", 0.1, 0.5), ("there,", 0.5, 1.0), ("how", 1.1, 1.3), ("are", 1.3, 1.6))
    la = LocalAgreement(CommitConfig(min_ms=500))
    la.hypothesis("m-1", 0.0, 2.0, said, settled=0.8)
    assert la.hypothesis("m-1", 0.0, 2.0, said, settled=0.8) is None
    commit = la.hypothesis("m-1", 0.0, 2.0, said, settled=1.2)
    assert commit is not None and commit.text == "Hello there,"
    la = LocalAgreement(CommitConfig(min_ms=500))
    pauses = (Pause(1.0, 1.3),)
    gap = words(("Hello", 0.1, 0.5), ("there", 0.5, 1.0), ("how", 1.3, 1.6))
    la.hypothesis("m-1", 0.0, 2.0, gap, pauses, settled=0.2)
    commit = la.hypothesis("m-1", 0.0, 2.0, gap, pauses, settled=0.2)
    assert commit is not None and commit.text == "Hello there"

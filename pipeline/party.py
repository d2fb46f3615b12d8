"""One party's audio path: timeline -> keypad -> resample -> VAD -> streaming commit policy.

:class:`PartyStream` is sans-I/O: it is handed frames (and told the call-clock
time in seconds) and returns the ASR jobs to run.  VAD runs on the incoming
telephone-band audio when webrtcvad supports its rate (8/16/32/48 kHz), else on
the 16 kHz resampled audio.  The :class:`~pipeline.keypad.Keypad` silences
DTMF tones before either hears them; :meth:`PartyStream.digits` hands out the
keyed digits.  A mixed stream (``StreamKind.MIXED``,
given a speaker ``embed`` function) also runs a
:class:`~pipeline.diarize.SegmentDiarizer`: a speaker change cuts the open
segment there (the first speaker's final is requested at once, the segment
goes on as a new one), finals carry speaker turns and partials the open turn's
provisional label.
Both run :class:`~pipeline.commit.LocalAgreement` on their partial decodes
(:meth:`PartyStream.decoded`): stable words that end a sentence are finalised
at once and the segment is cut after them (a mixed stream cuts at a clause end
only where its diarizer has settled who spoke, :meth:`SegmentDiarizer.settled`,
and its commits carry the provisional speaker, never a new voice beyond the roles
the platform told), and the VAD's soft and hard
limits then count from the cut.  Each stream asks for a partial as soon as its speaker pauses
(``pause_partial_ms``; once more at ``number_pause_ms`` while a number is read
out), so a commit at that pause need not wait for the next partial.
:meth:`PartyStream.retry` decodes a rejected final of a commit's rest once more
from the committed words' onset.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from records.frames import AudioFrame, Gap, pcm_to_int16, samples_to_rate
from records.kinds import StreamKind

from .asr import AsrResult
from .commit import Commit, CommitConfig, LocalAgreement, Pause, is_number, timed
from .diarize import DiarizeConfig, Embedder, SegmentDiarizer
from .dtmf import DtmfConfig
from .jobs import AsrJob, JobKind
from .keypad import Digit, Keypad
from .music import Segment
from .resample import Resampler
from .timeline import PartyTimeline, TimelineConfig
from .utterance import StreamingConfig, UtterancePolicy
from .vad import VAD_RATES, SpeechEnd, SpeechStart, VadConfig, VadEvent, VadSegmenter

ASR_RATE = 16000


@dataclass(frozen=True, slots=True)
class StreamConfig:
    timeline: TimelineConfig = field(default_factory=TimelineConfig)
    vad: VadConfig = field(default_factory=VadConfig)
    streaming: StreamingConfig = field(default_factory=StreamingConfig)
    diarize: DiarizeConfig = field(default_factory=DiarizeConfig)
    dtmf: DtmfConfig = field(default_factory=DtmfConfig)
    commit: CommitConfig = field(default_factory=CommitConfig)
    # A mixed stream's soft split: its segments are cut at speaker changes by the diarizer,
    # and pieces of 1-2 s (the party streams' split past 3 s at 150 ms) give the speaker
    # clustering too little of a voice (conv fixture: attribution 31 % instead of 99 %).
    mixed_soft_max_ms: int = 8000
    mixed_soft_pause_ms: int = 240
    # A mixed stream's commit at a clause end waits for its diarizer to settle who spoke
    # (a change is found ~1.2-1.4 s after it is spoken); before the open turn's first
    # window, a word must be this old.
    mixed_guard_ms: int = 1500

    def __post_init__(self) -> None:
        if self.streaming.buffer_ms < self.vad.max_segment_ms + self.vad.preroll_ms:
            raise ValueError("streaming.buffer_ms must cover vad.max_segment_ms + preroll_ms")
        self.vad_for(StreamKind.MIXED)  # its values are checked too
        if self.mixed_guard_ms < 0:
            raise ValueError("mixed_guard_ms must be >= 0")

    def vad_for(self, kind: StreamKind) -> VadConfig:
        """The VAD settings of a party stream, or of a mixed (diarized) one."""
        if kind is not StreamKind.MIXED:
            return self.vad
        return replace(self.vad, soft_max_ms=self.mixed_soft_max_ms,
                       soft_pause_ms=self.mixed_soft_pause_ms)  # fmt: skip


class PartyStream:
    def __init__(
        self,
        call_id: str,
        party: str,
        sample_rate: int,
        config: StreamConfig | None = None,
        embed: Embedder | None = None,
        kind: StreamKind = StreamKind.PARTY,
    ) -> None:
        self.call_id = call_id
        self.party = party
        self.kind = kind
        self.sample_rate = sample_rate
        self.config = config or StreamConfig()
        self.timeline = PartyTimeline(sample_rate, self.config.timeline)
        self.keypad = Keypad(sample_rate, self.config.dtmf)
        self.resampler = Resampler(sample_rate, ASR_RATE)
        self.vad_rate = sample_rate if sample_rate in VAD_RATES else ASR_RATE
        self.vad = VadSegmenter(self.vad_rate, self.config.vad_for(kind))
        self.policy = UtterancePolicy(call_id, party, ASR_RATE, self.config.streaming)
        self.diarizer: SegmentDiarizer | None = None
        if embed is not None and kind is StreamKind.MIXED:
            self.diarizer = SegmentDiarizer(embed, ASR_RATE, self.config.diarize)
        self.agreement: LocalAgreement | None = None
        wants = self.config.commit.enabled and self.config.streaming.partials
        if wants and kind is StreamKind.PARTY:
            self.agreement = LocalAgreement(self.config.commit)
        elif wants and self.diarizer is not None:
            self.agreement = LocalAgreement(self.config.commit)
        self.policy.partial_words = self.agreement is not None
        self.policy.final_from_onset = bool(self.agreement and self.config.commit.rest_from_onset)
        self.ended = False
        self._asked_at_pause = 0  # partials asked for the pause going on

    @property
    def commits(self) -> bool:
        """Whether partial decodes drive early finals (so they are decoded even unseen)."""
        return self.agreement is not None

    def decoded(self, job: AsrJob, result: AsrResult) -> Commit | None:
        """A partial decode of the open segment came back: the words to finalise now,
        if two decodes agree on a sentence's worth (the segment is then cut after them)."""
        if job.segment_id != self.policy.segment_id:
            return None
        words = timed(result.words, job.start_s)
        said = [w for w in words if w.key]
        self.vad.soft_ok = not (said and is_number(said[-1]))  # a number read out: no split
        if self.agreement is None or self.vad.music.segment() is Segment.MUSIC:
            return None  # no final from the partials of hold music
        if self._beyond_roles(job):
            return None  # its label waits for the turn to close
        start = max(job.start_s, job.seam.cut) if job.seam is not None else job.start_s
        rate = self.vad_rate
        pauses = tuple(Pause(a / rate, b / rate) for a, b in self.vad.pauses() if a / rate >= start)
        commit = self.agreement.hypothesis(
            job.segment_id, start, job.end_s, words, pauses, self._settled(job)
        )
        if commit is None:
            return None
        cut = round(commit.cut * ASR_RATE)
        overlap = cut - round(commit.resume(self.config.commit.overlap_ms / 1000) * ASR_RATE)
        if not self.policy.split(job.segment_id, cut, overlap, commit.seam):
            return None
        self.vad.restart(samples_to_rate(cut, ASR_RATE, self.vad_rate))
        return commit

    def _beyond_roles(self, job: AsrJob) -> bool:
        """Whether a mixed stream's open turn would found a speaker beyond the roles the
        platform told, all of them known already: a voice unlike them all is more often
        an overlap than a third party ("Please enter your password" over "himself" was
        committed as speaker_3, and its turn closed as the agent's), so its words are
        not finalised under that label (the final at the turn's close has the right one)."""
        roles = self.config.diarize.roles
        if self.diarizer is None or not job.speakers or not roles:
            return False
        return job.speakers[-1].new and self.diarizer.clusters.count >= len(roles)

    def _settled(self, job: AsrJob) -> float | None:
        """A mixed stream's words are cut only where its diarizer knows the speakers (s);
        ``mixed_guard_ms`` before the decoded audio's end while it knows nothing yet."""
        if self.diarizer is None:
            return None
        known = self.diarizer.settled()
        if known is None:
            return job.end_s - self.config.mixed_guard_ms / 1000
        return known / ASR_RATE

    def retry(self, job: AsrJob, now_s: float) -> AsrJob | None:
        """The final of a commit's rest, decoded from the committed words' onset, when
        ``job`` (decoded from just before the cut) came back rejected; once only."""
        seam = job.seam
        if self.agreement is None or seam is None or job.kind is not JobKind.FINAL:
            return None
        start = round(seam.start * ASR_RATE)
        return self.policy.again(job, start, now_s) if start < job.start else None

    @property
    def position_s(self) -> float:
        """Call-clock time just after the newest audio of this party."""
        return (self.timeline.position or 0) / self.sample_rate

    def push(self, frame: AudioFrame, now_s: float) -> list[AsrJob]:
        jobs: list[AsrJob] = []
        for item in self.timeline.push(frame):
            for kept in self.keypad.push(item):
                jobs.extend(self._item(kept, now_s))
        return jobs

    def digits(self) -> list[Digit]:
        """Digits keyed since the last call (in-band, and those told to ``keypad``)."""
        return self.keypad.take()

    def _item(self, item: AudioFrame | Gap, now_s: float) -> list[AsrJob]:
        jobs: list[AsrJob] = []
        for out in self.resampler.push(item):
            jobs.extend(self._audio(out, now_s))
            if self.vad_rate == ASR_RATE and self.sample_rate != ASR_RATE:
                jobs.extend(self._vad(self.vad.push(pcm_to_int16(out.pcm), out.start), now_s))
        if isinstance(item, Gap):
            at = samples_to_rate(item.start, self.sample_rate, self.vad_rate)
            jobs.extend(self._vad(self.vad.gap(at), now_s))
        elif self.vad_rate == self.sample_rate:
            jobs.extend(self._vad(self.vad.push(pcm_to_int16(item.pcm), item.start), now_s))
        return jobs

    def _audio(self, out: AudioFrame, now_s: float) -> list[AsrJob]:
        """16 kHz audio to the diarizer (cutting at its speaker changes), then the policy."""
        if self.diarizer is None:
            return self._partials(self.policy.audio(out, now_s))
        self.diarizer.audio(out)
        jobs: list[AsrJob] = []
        for turn in self.diarizer.take_changes():
            finals = self.policy.speech_end(turn.end, now_s)
            if finals:
                self.policy.speech_start(turn.end)  # the segment goes on with the next voice
            jobs.extend(replace(job, speakers=(turn,)) for job in finals)
        return jobs + self._partials(self.policy.audio(out, now_s))

    def _partials(self, partials: list[AsrJob]) -> list[AsrJob]:
        """Partials as they go out: none of a segment that is hold music so far (nor a
        commit from one), and a mixed stream's with the open turn's provisional speaker."""
        if not partials:  # the checks cost a look at the segment and a clustering peek
            return partials
        music = self.vad.music
        heard = music.segment()
        if heard is Segment.MUSIC:
            return []
        if heard is Segment.MAYBE_MUSIC:
            doubt = music.config.maybe_no_speech_prob
            partials = [replace(job, music_like=doubt) for job in partials]
        if self.diarizer is None:
            return partials
        now = self.diarizer.provisional()
        return [replace(job, speakers=(now,)) if now else job for job in partials]

    def _vad(self, events: list[VadEvent], now_s: float) -> list[AsrJob]:
        jobs = self._pause(now_s)
        for ev in events:
            if isinstance(ev, SpeechStart):
                start = samples_to_rate(ev.start, self.vad_rate, ASR_RATE)
                self.policy.speech_start(start)
                if self.diarizer is not None:
                    self.diarizer.speech_start(start)
            elif isinstance(ev, SpeechEnd):
                end = samples_to_rate(ev.end, self.vad_rate, ASR_RATE)
                finals = self.policy.speech_end(end, now_s)
                if ev.music or ev.music_like:
                    doubt = 0.0 if ev.music else self.vad.music.config.maybe_no_speech_prob
                    finals = [replace(job, music=ev.music, music_like=doubt) for job in finals]
                if self.diarizer is not None:
                    turns = self.diarizer.speech_end(end)
                    finals = [replace(job, speakers=turns) for job in finals]
                jobs.extend(finals)
        return jobs

    def _pause(self, now_s: float) -> list[AsrJob]:
        """The speaker just paused: a partial now, for the streaming commit
        (and once more when a number read out may be over, ``number_pause_ms`` in)."""
        wait = self.config.streaming.pause_partial_ms
        silent = self.vad.silence_ms
        if not silent:
            self._asked_at_pause = 0
        if self.agreement is None or not wait or silent < wait:
            return []
        marks = [wait] if self.vad.soft_ok else [wait, self.config.commit.number_pause_ms]
        due = sum(silent >= m for m in marks)
        if due <= self._asked_at_pause:
            return []
        self._asked_at_pause = due
        return self._partials(self.policy.paused(now_s))

    def flush(self, now_s: float) -> list[AsrJob]:
        """The party left: close its open segment and drain the resampler."""
        jobs: list[AsrJob] = []
        for kept in self.keypad.flush():
            jobs.extend(self._item(kept, now_s))
        for out in self.resampler.flush():
            jobs.extend(self._audio(out, now_s))
        jobs.extend(self._vad(self.vad.flush(), now_s))
        self.ended = True
        return jobs

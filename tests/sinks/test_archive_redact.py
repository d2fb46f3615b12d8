"""redact_audio: a redaction event silences its party's archived audio over the masked words."""

import numpy as np
import pytest

from records.events import CallEnded, Redaction
from sinks.archive import Archive, ArchiveConfig
from sinks.layout import REDACT_MARGIN_MS

from .test_archive import WALL, expected, frame, read

RATE = 8000


def _run(tmp_path, redact_audio: bool):
    archive = Archive(ArchiveConfig(tmp_path), wall_clock=lambda: WALL, redact_audio=redact_audio)
    archive.start()
    try:
        for i in range(250):  # 5 s of both parties
            archive.push(frame("agent", i))
            archive.push(frame("customer", i))
            if i == 200:  # 4 s: the words at 1.0-1.5 s are long written; 4.5-4.6 s are not yet
                archive.on_event(Redaction("c1", "customer", "s1", "card", 1.0, 1.5, 4.0))
                archive.on_event(Redaction("c1", "customer", "s2", "cvv", 4.5, 4.6, 4.0))
        archive.on_event(CallEnded("c1", 5.0, 5.0))
        assert archive.flush()
    finally:
        archive.close()
    (folder,) = [p.parent for p in tmp_path.rglob("stereo.wav")]
    return folder


@pytest.mark.parametrize("redact_audio", [True, False])
def test_the_archive_is_silent_over_the_redacted_words_and_untouched_elsewhere(
    tmp_path, redact_audio
):
    folder = _run(tmp_path, redact_audio)
    total, margin = 250 * 160, REDACT_MARGIN_MS * RATE // 1000
    spans = [(RATE - margin, 12000 + margin), (36000 - margin, 36800 + margin)]
    kept = [(0, spans[0][0]), (spans[0][1], spans[1][0]), (spans[1][1], total)]
    customer = expected("customer", kept if redact_audio else [(0, total)], total)
    agent = expected("agent", [(0, total)], total)
    assert np.array_equal(read(folder / "customer.wav")[:, 0], customer)
    assert np.array_equal(read(folder / "agent.wav")[:, 0], agent)
    stereo = read(folder / "stereo.wav")
    assert np.array_equal(stereo[:, 0], agent) and np.array_equal(stereo[:, 1], customer)
    assert (
        bool((read(folder / "customer.wav")[spans[0][0] : spans[0][1]] == 0).all()) is redact_audio
    )

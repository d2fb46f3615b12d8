from softphone.clock import SessionClock, StreamClock

MS = 1_000_000


def test_first_stream_starts_at_zero_and_counts_frames():
    session = SessionClock(16000)
    a = StreamClock(session)
    starts = [a.advance(5_000 * MS + n * 21 * MS, 320) for n in range(3)]
    assert starts == [0, 320, 640]  # wall-time wobble does not move a running stream


def test_late_stream_is_placed_by_wall_time_rounded_to_frames():
    session = SessionClock(8000)
    a, b = StreamClock(session), StreamClock(session)
    a.advance(1_000 * MS, 160)
    assert b.advance(1_000 * MS + 2_509 * MS, 160) == 125 * 160  # 2.509 s -> frame 125
    assert b.advance(0, 160) == 126 * 160


def test_stream_before_origin_is_clamped_to_zero():
    session = SessionClock(8000)
    StreamClock(session).advance(10 * MS, 160)
    assert StreamClock(session).advance(0, 160) == 0


def test_streams_of_one_session_count_at_their_own_rates():
    session = SessionClock(16000)
    wide, narrow = StreamClock(session, 16000), StreamClock(session, 8000)
    assert wide.advance(1_000 * MS, 320) == 0
    assert narrow.advance(1_000 * MS + 1_000 * MS, 160) == 50 * 160  # 1 s in, at 8 kHz
    assert narrow.advance(0, 160) == 51 * 160
    assert wide.advance(0, 320) == 320  # the 16 kHz stream is not moved by the 8 kHz one

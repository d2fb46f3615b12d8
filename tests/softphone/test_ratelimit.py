from softphone.ratelimit import SourceRateLimit, host_of


def test_burst_then_the_rate():
    limit = SourceRateLimit(rate_per_s=2.0, burst=3)
    assert [limit.allow("10.0.0.1:5060", 0.0) for _ in range(4)] == [True, True, True, False]
    assert limit.allow("10.0.0.1:5061", 0.4) is False  # same host, another port: 0.8 token
    assert limit.allow("10.0.0.1:5060", 0.5) is True  # 1 token back after 0.5 s
    assert limit.refused == 2


def test_sources_are_counted_apart_and_the_table_is_bounded():
    limit = SourceRateLimit(rate_per_s=1.0, burst=1, max_sources=3)
    for n in range(10):
        assert limit.allow(f"10.0.0.{n}:5060", 0.0)
    assert len(limit) == 3  # evict_least_recent
    assert limit.allow("10.0.0.9:5060", 0.0) is False  # still remembered
    assert limit.allow("10.0.0.0:5060", 0.0) is True  # forgotten, so a fresh bucket


def test_tokens_never_exceed_the_burst_and_time_going_back_is_harmless():
    limit = SourceRateLimit(rate_per_s=100.0, burst=2)
    limit.allow("a", 0.0)
    assert [limit.allow("a", 1000.0) for _ in range(3)] == [True, True, False]
    assert limit.allow("a", 999.0) is False
    assert limit.retry_after_s() == 1


def test_host_of():
    assert host_of("1.2.3.4:5060") == "1.2.3.4"
    assert host_of("[::1]:5060") == "::1"
    assert host_of("::1") == "::1"
    assert host_of("example") == "example"

"""Webhooks, sans-I/O: signature, retry schedule, outcomes, the queue's drop policy."""

import hashlib
import hmac

import pytest

from sinks.webhook_policy import (
    DEFAULT_EVENTS,
    Delivery,
    DeliveryQueue,
    Outcome,
    WebhookConfig,
    WebhookConfigError,
    backoff_s,
    headers,
    outcome,
    retry_after_s,
    signature,
    verify,
)

URL = "http://127.0.0.1:9/hook"


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    body = '{"type":"call.started"}'
    want = hmac.new(b"s3cret", b"1700000000." + body.encode(), hashlib.sha256).hexdigest()
    assert signature(b"s3cret", 1700000000, body) == f"sha256={want}"
    assert verify(b"s3cret", "1700000000", body, f"sha256={want}")
    assert not verify(b"s3cret", "1700000001", body, f"sha256={want}")  # a replayed body
    assert not verify(b"other", "1700000000", body, f"sha256={want}")
    assert not verify(b"s3cret", "soon", body, f"sha256={want}")


def test_headers_are_signed_only_with_a_secret():
    signed = headers("call.ended", "{}", 12, b"k")
    assert signed["X-Listenin-Timestamp"] == "12"
    assert signed["X-Listenin-Event"] == "call.ended"
    assert signed["X-Listenin-Signature"] == signature(b"k", 12, "{}")
    assert "X-Listenin-Signature" not in headers("call.ended", "{}", 12, b"")
    assert headers("call.ended", "{}", 12, b"", seq=7)["X-Listenin-Seq"] == "7"


@pytest.mark.parametrize(
    ("status", "want"),
    [(200, Outcome.DELIVERED), (204, Outcome.DELIVERED), (None, Outcome.RETRY),
     (500, Outcome.RETRY), (503, Outcome.RETRY), (429, Outcome.RETRY), (400, Outcome.GIVE_UP),
     (404, Outcome.GIVE_UP), (301, Outcome.GIVE_UP)],
)  # fmt: skip
def test_outcomes(status, want):
    assert outcome(status) is want


def test_backoff_doubles_up_to_the_cap():
    config = WebhookConfig(URL, backoff_initial_s=0.5, backoff_max_s=3.0)
    assert [backoff_s(config, n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_backoff_has_full_jitter_below_the_capped_exponential():
    config = WebhookConfig(URL, backoff_initial_s=0.5, backoff_max_s=3.0)
    assert [backoff_s(config, n, 0.25) for n in range(1, 6)] == [0.125, 0.25, 0.5, 0.75, 0.75]
    assert backoff_s(config, 3, 0.0) == 0.0 and backoff_s(config, 500, 0.5) == 1.5
    assert backoff_s(config, 2, 7.0) == 1.0  # a unit out of [0, 1] is clamped


def test_retry_after_seconds_or_http_date_capped():
    now = 1_767_225_600.0  # Thu, 01 Jan 2026 00:00:00 GMT
    assert retry_after_s("3", now) == 3.0
    assert retry_after_s(" 0 ", now) == 0.0
    assert retry_after_s("Thu, 01 Jan 2026 00:00:30 GMT", now) == 30.0
    assert retry_after_s("Wed, 31 Dec 2025 23:59:00 GMT", now) == 0.0  # past: at once
    assert retry_after_s("99999", now) == 3600.0
    assert retry_after_s(None, now) is None
    assert retry_after_s("soon", now) is None and retry_after_s("-5", now) is None


def test_label_is_the_name_or_host_never_path_query_or_credentials():
    assert WebhookConfig("https://u:pw@hooks.example.com/x?key=s3cret").label == (
        "hooks.example.com")  # fmt: skip
    assert WebhookConfig("http://127.0.0.1:8080/h?token=t").label == "127.0.0.1:8080"
    assert WebhookConfig(URL, name="crm").label == "crm"


def test_queue_drops_partials_first_then_oldest():
    queue = DeliveryQueue(3)
    items = [Delivery("transcript.final", "f1"), Delivery("transcript.partial", "p1"),
             Delivery("transcript.partial", "p2")]  # fmt: skip
    assert all(queue.push(item) is None for item in items)
    assert queue.push(Delivery("transcript.final", "f2")).body == "p1"
    assert queue.push(Delivery("transcript.final", "f3")).body == "p2"
    assert queue.push(Delivery("call.ended", "e")).body == "f1"  # no partial left: the oldest
    assert [queue.pop().body for _ in range(3)] == ["f2", "f3", "e"]
    assert queue.pop() is None and len(queue) == 0


def test_wants_filters_types_and_parties():
    config = WebhookConfig(URL, parties=("agent",))
    assert "call.stats" not in DEFAULT_EVENTS
    assert config.wants("transcript.final", "agent")
    assert not config.wants("transcript.final", "customer")
    assert config.wants("call.started", None)  # party-less events always pass the party filter
    assert not config.wants("call.stats", None)


@pytest.mark.parametrize(
    "kwargs",
    [{"url": "ftp://x/"}, {"url": "http:///nohost"}, {"events": ("nope",)}, {"events": ()},
     {"timeout_s": 0.0}, {"max_retries": -1}, {"backoff_initial_s": 5.0, "backoff_max_s": 1.0},
     {"queue_events": 0}, {"format": "vtt"}, {"name": "a b"}, {"name": "x" * 65}],
)  # fmt: skip
def test_bad_configs_are_refused(kwargs):
    with pytest.raises(WebhookConfigError):
        WebhookConfig(**{"url": URL, **kwargs})

"""Webhooks behind a running Outputs, with real receivers: the per-target counters on
/metrics scraped over real HTTP (labelled by name or host[:port], never the query),
and alerts posted after their finals."""

from __future__ import annotations

import json
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from listenin.service import Outputs
from records.events import CallEnded
from sinks.server import ServerConfig
from tests.sinks.test_webhooks import config, final, receivers  # noqa: F401 (a fixture)
from tests.waiting import wait_until

TOKEN = "metrics-token-0123456789"


def scrape(outputs: Outputs) -> tuple[str, dict[tuple[str, tuple], float]]:
    url = f"http://127.0.0.1:{outputs.server.port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return text, out


def test_webhook_counters_per_target_on_metrics(receivers, tmp_path):  # noqa: F811
    good, flaky, refusing = receivers(), receivers(fail_first=1), receivers(status=400)
    hung = receivers(hang=True)
    hooks = [
        config(good.url, name="crm"),
        config(flaky.url + "?api_key=s3cret-in-query", max_retries=2),
        config(refusing.url, dead_letter_file=tmp_path / "dead.jsonl"),
        config(hung.url, queue_events=1, timeout_s=60, max_retries=0),
    ]
    outputs = Outputs(ServerConfig(port=0, token=TOKEN), webhooks=hooks)
    outputs.start()
    try:
        events = [final(0), final(1), final(2), CallEnded("c1", 9.0, 9.0)]
        outputs.on_event(events[0])
        wait_until(lambda: hung.arrived == 1, "the hung target is sending the first", 60)
        for event in events[1:]:  # into the hung target's queue of 1: two dropped
            outputs.on_event(event)
        targets = outputs.webhooks.targets
        wait_until(lambda: len(good.accepted) == 4 and len(flaky.accepted) == 4
                   and targets[2].dead_lettered == 4, "the other targets have had it all",
                   60)  # fmt: skip
        text, got = scrape(outputs)
        hung.release.set()
    finally:
        outputs.close()
    flaky_label, refusing_label, hung_label = (
        f"127.0.0.1:{r.server.server_address[1]}" for r in (flaky, refusing, hung)
    )

    def metric(name: str, target: str) -> float:
        return got[(f"listenin_webhook_{name}", (("target", target),))]

    assert [metric("delivered_total", t) for t in ("crm", flaky_label, refusing_label)] == [4, 4, 0]
    assert metric("retried_total", flaky_label) == 4 and metric("retried_total", "crm") == 0
    assert metric("dead_lettered_total", refusing_label) == 4
    assert metric("queued", hung_label) == 1 and metric("dropped_total", hung_label) == 2
    assert metric("delivered_total", hung_label) == 0 and metric("queued", "crm") == 0
    assert metric("delay_seconds_count", "crm") == 4
    assert metric("delay_seconds_count", refusing_label) == 0
    delay = [got[k] for k in got if k[0] == "listenin_webhook_delay_seconds_bucket"
             and ("target", "crm") in k[1]]  # fmt: skip
    assert delay == sorted(delay) and delay[-1] == 4  # cumulative buckets, +Inf holds all
    assert "s3cret" not in text and "api_key" not in text and "/hook" not in text
    assert hung.accepted == [events[0].to_json(), events[3].to_json()]  # drained at close


def test_an_alert_is_posted_after_its_final(receivers):  # noqa: F811
    from pipeline.alerts import AlertRule
    from records.events import TranscriptFinal

    receiver = receivers()
    rule = AlertRule("cancel", phrases=("cancel my account",))
    outputs = Outputs(webhooks=[config(receiver.url)], alerts=(rule,))
    outputs.start()
    try:
        outputs.on_event(TranscriptFinal("c1", "customer", "customer-1", 2.0, 4.0,
                                         "Please cancel my account.", 4.6))  # fmt: skip
    finally:
        outputs.close()
    assert [json.loads(b)["type"] for b in receiver.accepted] == ["transcript.final", "alert"]
    assert json.loads(receiver.accepted[1])["matched"] == "cancel my account."
    assert receiver.accepted_events == ["transcript.final", "alert"]

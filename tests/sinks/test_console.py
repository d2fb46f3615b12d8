"""The web console in real headless Chromium: a replayed call appears with its text."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from listenin.replay import PartyAudio, load_party, replay
from listenin.service import Outputs
from pipeline.runtime import Pipeline, PipelineConfig
from sinks.server import ServerConfig

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
SECONDS = 12.0
TOKEN = "console-token-0123456789"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="needs Debian chromium and chromium-driver",
)


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def test_console_shows_a_replayed_call_and_its_final_text(engine, browser, monkeypatch):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    monkeypatch.setenv("LISTENIN_WS_TOKEN", TOKEN)
    outputs = Outputs(ServerConfig(port=0, token=TOKEN, stats_interval_s=0.5))
    outputs.start()
    pipeline = Pipeline(engine, outputs.on_event, PipelineConfig(asr_workers=2))
    try:
        browser.get(outputs.server.console_url + "?token=" + TOKEN)
        wait = WebDriverWait(browser, 60)
        wait.until(lambda d: d.find_element(By.ID, "status").get_attribute("data-state") == "open")
        p = load_party("agent", ROOT / "fixtures" / "call2_agent.wav")
        audio = [PartyAudio("agent", p.sample_rate, p.pcm[: int(SECONDS * p.sample_rate)])]
        feeder = threading.Thread(
            target=replay, args=(pipeline, "console-call", audio),
            kwargs={"realtime": False, "tap": outputs.on_audio},
        )  # fmt: skip
        feeder.start()
        card = wait.until(
            lambda d: d.find_element(By.CSS_SELECTOR, 'section.call[data-call-id="console-call"]')
        )
        wait.until(lambda d: card.get_attribute("data-ended") == "true")
        feeder.join(60)
        lines = card.find_elements(By.CSS_SELECTOR, '.party[data-party="agent"] .lines li')
        text = " ".join(li.text for li in lines).lower()
        assert "echo test" in text
        assert card.find_element(By.CSS_SELECTOR, ".party .label").text == "agent"
        assert card.find_element(By.CSS_SELECTOR, ".duration").text == "00:12"
        assert card.find_element(By.CSS_SELECTOR, ".state").text.lower() == "ended"

        # the same call id again (a second supervise of the session): a new card
        again = [PartyAudio("agent", p.sample_rate, p.pcm[: 3 * p.sample_rate])]
        replay(pipeline, "console-call", again, realtime=False, tap=outputs.on_audio)
        selector = 'section.call[data-call-id="console-call"]'
        cards = wait.until(lambda d: (c := d.find_elements(By.CSS_SELECTOR, selector))[1:] and c)
        wait.until(lambda d: all(c.get_attribute("data-ended") == "true" for c in cards))
        assert len(cards) == 2
        assert browser.find_element(By.ID, "count").text == "0 active calls"
    finally:
        pipeline.close()
        outputs.close()

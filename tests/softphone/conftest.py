"""A real pjsua2 device in this process and the platform simulator in another."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from records.frames import AudioFrame
from softphone.config import AdmissionConfig, DeviceConfig, MediaConfig, TransportConfig
from softphone.device import Device

ROOT = Path(__file__).resolve().parents[2]


def device_config(**admission) -> DeviceConfig:
    return DeviceConfig(
        transport=TransportConfig(udp_port=0, rtp_port=0),
        admission=AdmissionConfig(**admission),
        media=MediaConfig(stats_interval_s=1.0),
    )


@pytest.fixture
def make_device() -> Iterator:
    devices: list[Device] = []

    def make(config: DeviceConfig | None = None, roles=None) -> Device:
        dev = Device(config or device_config(), roles)
        dev.start()
        devices.append(dev)
        return dev

    yield make
    for dev in devices:
        dev.stop()


def run_sim(target: str, *args: str, timeout: float = 60) -> tuple[int, list[dict]]:
    proc = subprocess.run(
        [sys.executable, "-m", "pbxsim", target, *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    return proc.returncode, lines


class Collected:
    def __init__(self) -> None:
        self.frames: dict[tuple[str, str], list[AudioFrame]] = {}
        self.events: list = []

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


def drain(dev: Device, until, timeout: float = 30.0, into: Collected | None = None) -> Collected:
    """Read the device's outbox until ``until(collected)`` or the deadline."""
    got = into or Collected()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not until(got):
        item = dev.get(0.05)
        if item is None:
            continue
        if isinstance(item, AudioFrame):
            got.frames.setdefault((item.call_id, item.party), []).append(item)
        else:
            got.events.append(item)
    return got

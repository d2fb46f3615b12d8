"""README.md documents every configuration key the code accepts."""

import dataclasses
from pathlib import Path

import pytest

import platforms.config as pc
from listenin.config import SERVER_KEYS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


@pytest.mark.parametrize(
    "cls", [pc.RingCentralConfig, pc.RingCXConfig, pc.GenesysConfig, pc.YeastarConfig]
)
def test_every_platform_key_is_documented(cls):
    missing = [f.name for f in dataclasses.fields(cls) if f"`{f.name}`" not in README]
    assert not missing, f"{cls.__name__}: {missing}"


def test_every_server_key_is_documented():
    assert not [k for k in SERVER_KEYS if f"`{k}`" not in README]


def test_every_archive_key_is_documented():
    from sinks.archive import ArchiveConfig

    assert not [f.name for f in dataclasses.fields(ArchiveConfig) if f"`{f.name}`" not in README]


def test_every_bus_key_is_documented():
    from listenin.config import BUS_KEYS

    assert not [k for k in BUS_KEYS if f"`{k}`" not in README]


def test_every_alert_key_is_documented():
    from listenin.config import ALERT_KEYS

    assert not [k for k in ALERT_KEYS if f"`{k}`" not in README]


def test_every_redaction_key_is_documented():
    from listenin.config import REDACTION_KEYS

    assert not [k for k in REDACTION_KEYS if f"`{k}`" not in README]

"""Platform config tables: keys, types and values checked, each error naming its key."""

from __future__ import annotations

import pytest

from platforms import PlatformConfigError, platform_config
from platforms.config import RingCentralConfig, YeastarConfig
from platforms.secret import MissingSecret, Secret, from_env, redact

RC = {"client_id": "app-id", "device_id": "60727004"}


def test_a_table_becomes_a_frozen_checked_config():
    cfg = platform_config(
        "ringcentral", {**RC, "groups": ["Support", "7001"], "poll_interval_s": 10}
    )
    assert isinstance(cfg, RingCentralConfig)
    assert cfg.groups == ("Support", "7001") and cfg.poll_interval_s == 10.0
    assert cfg.jwt_env == "RC_JWT" and cfg.supervise == "party" and cfg.max_device_calls == 0
    with pytest.raises(AttributeError):
        cfg.client_id = "other"  # type: ignore[misc]
    ys = platform_config(
        "yeastar",
        {
            "base_url": "https://192.168.5.150:8088",
            "client_id": "c",
            "monitor": "2008",
            "extensions": ["2000"],
        },
    )
    assert isinstance(ys, YeastarConfig) and ys.type == "listen"


@pytest.mark.parametrize(
    "name,table,key,message",
    [
        (
            "ringcentral",
            {**RC, "pol_interval_s": 5},
            "platforms.ringcentral.pol_interval_s",
            "unknown key",
        ),
        ("ringcentral", {"device_id": "1"}, "platforms.ringcentral.client_id", "missing"),
        (
            "ringcentral",
            {**RC, "supervise": "both"},
            "platforms.ringcentral.supervise",
            "must be one of",
        ),
        (
            "ringcentral",
            {**RC, "poll_interval_s": "5"},
            "platforms.ringcentral.poll_interval_s",
            "expected a number",
        ),
        (
            "ringcentral",
            {**RC, "groups": "Support"},
            "platforms.ringcentral.groups",
            "array of strings",
        ),
        (
            "ringcentral",
            {**RC, "webhook_bind": "8090"},
            "platforms.ringcentral.webhook_bind",
            "HOST:PORT",
        ),
        (
            "ringcx",
            {"client_id": "a", "account_id": "1", "destination": "+1555", "poll_interval_s": 1},
            "platforms.ringcx.poll_interval_s",
            "5..60",
        ),
        (
            "ringcx",
            {
                "client_id": "a",
                "account_id": "1",
                "destination": "+1555",
                "max_requests_per_min": 500,
            },
            "platforms.ringcx.max_requests_per_min",
            "120",
        ),
        (
            "ringcx",
            {"client_id": "a", "account_id": "1", "destination": "supervisor"},
            "platforms.ringcx.destination",
            "phone number",
        ),
        (
            "ringcx",
            {"client_id": "a", "account_id": "1", "destination": "+1555", "session_type": "LISTEN"},
            "platforms.ringcx.session_type",
            "MONITOR",
        ),
        (
            "genesys",
            {
                "base_url": "http://gws",
                "username": "u",
                "supervisor_device_id": "d",
                "target_device_uri": "http://gws/api/v2/devices/a",
                "mode": "Always",
            },
            "platforms.genesys.mode",
            "NextCall",
        ),
        (
            "yeastar",
            {"base_url": "https://pbx", "client_id": "c", "monitor": "2008", "type": "spy"},
            "platforms.yeastar.type",
            "listen",
        ),
        (
            "yeastar",
            {"base_url": "pbx:8088", "client_id": "c", "monitor": "2008"},
            "platforms.yeastar.base_url",
            r"http\(s\) URL",
        ),
        ("teams", {}, "platforms.teams", "unknown platform"),
    ],
)
def test_errors_name_the_bad_key(name, table, key, message):
    with pytest.raises(PlatformConfigError, match=message) as err:
        platform_config(name, table)
    assert err.value.key == key and str(err.value).startswith(key + ": ")


def test_secrets_come_from_the_environment_and_hide():
    with pytest.raises(MissingSecret, match="RC_JWT \\(named by jwt_env\\) is not set"):
        from_env("RC_JWT", "jwt_env", {})
    s = from_env("RC_JWT", "jwt_env", {"RC_JWT": "eyJ-very-secret"})
    assert s.reveal() == "eyJ-very-secret" and "very" not in repr(s) and "very" not in f"{s}"
    assert redact("bad token eyJ-very-secret!") == "bad token ***!"
    assert repr(Secret("x")) == "Secret('***')"

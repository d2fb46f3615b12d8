"""The fake platform servers answer with the documented shapes (raw HTTP, no adapter)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
import soundfile as sf

from pbxsim.platforms.placer import CallPlacer
from pbxsim.platforms.ringcentral import FakeRingCentral
from pbxsim.platforms.ringcx import FakeRingCX


def call(method: str, url: str, body=None, headers=None) -> tuple[int, dict, object]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            raw = r.read()
            return r.status, dict(r.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        raw = err.read()
        return err.code, dict(err.headers), json.loads(raw) if raw else None


@pytest.fixture
def rc():
    f = FakeRingCentral(placer=CallPlacer(dial=False)).start()
    yield f
    f.stop()


def test_ringcentral_refuses_without_a_token_and_injects_faults(rc):
    status, _, body = call("GET", rc.url + "/restapi/v1.0/account/~/call-monitoring-groups")
    assert status == 401 and body["errorCode"] == "TokenInvalid"
    assert body["errors"][0]["errorCode"] == "OAU-213"
    rc.fail("POST", "/restapi/oauth/token", 503, times=1)
    assert call("POST", rc.url + "/restapi/oauth/token")[0] == 503
    status, _, body = call("POST", rc.url + "/restapi/oauth/token")  # the fault is used up
    assert status == 401 and body["error"] == "invalid_client"
    assert call("PATCH", rc.url + "/restapi/v1.0/subscription")[0] == 405
    assert call("GET", rc.url + "/restapi/v2/nothing")[0] == 404
    rc.malformed("GET", "/anything")
    with urllib.request.urlopen(rc.url + "/anything", timeout=5) as r:
        assert r.status == 200 and r.read().startswith(b"<html>")


def test_ringcentral_subscription_needs_the_validation_token_echoed(rc):
    grant = {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": "jwt-credential",
    }
    req = urllib.request.Request(
        rc.url + "/restapi/oauth/token",
        method="POST",
        data=urllib.parse.urlencode(grant).encode(),
        headers={"Authorization": "Basic YXBwLWlkOmFwcC1zZWNyZXQ="},
    )
    token = json.loads(urllib.request.urlopen(req, timeout=5).read())["access_token"]
    status, _, body = call(
        "POST",
        rc.url + "/restapi/v1.0/subscription",
        {
            "eventFilters": ["/restapi/v1.0/account/~/telephony/sessions"],
            "deliveryMode": {"transportType": "WebHook", "address": "http://127.0.0.1:9/"},
        },
        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert status == 400 and body["errorCode"] == "SUB-523"


def test_ringcx_denial_is_the_documented_body():
    f = FakeRingCX(placer=CallPlacer(dial=False)).start()
    try:
        f.tokens.access["at-x"] = float("inf")
        f.deny = True
        status, _, body = call(
            "GET",
            f.url + "/voice/api/v1/admin/accounts/12440011/activeCalls/list",
            headers={"Authorization": "Bearer at-x"},
        )
        assert status == 403
        assert set(body) == {"errorCode", "generalMessage", "details", "requestUri", "timestamp"}
        assert body["errorCode"] == "access.denied.exception"
        assert body["generalMessage"] == "You do not have permission to access this resource"
        assert body["requestUri"] == "/api/v1/admin/accounts/12440011/activeCalls/list - GET"
    finally:
        f.stop()


def test_whole_call_supervision_hears_one_mixed_channel():
    placer = CallPlacer("call2")
    try:
        party = placer.mixed_party("s-1")
        audio, rate = sf.read(party.wav, dtype="int16")
        parts = [sf.read(p.wav, dtype="int16")[0] for p in placer.session("s-1").parties]
        assert rate == 8000 and audio.ndim == 1 and audio.size == max(p.size for p in parts)
        assert party.party_id == "s-1-mix" and placer.mixed_party("s-2").wav == party.wav
    finally:
        placer.close()

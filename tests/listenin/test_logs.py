"""Logging for operators: the call lines at the default level, JSON lines, no secrets."""

import io
import json
import logging
import os
import subprocess
import sys

from listenin.logs import CALLS_LOGGER, Redact, secret_env_names, setup_logging

SIP_PASSWORD = "sip-pass-Zq81xw"
WS_TOKEN = "ws-token-7c1f0e9a2b4d6e8f"
RC_JWT = "rc-jwt-eyJhbGciOiJIUzI1NiJ9"


def listenin(*args, env=None, timeout=300):
    env = {**os.environ, **(env or {})}
    argv = [sys.executable, "-m", "listenin", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)


def test_default_level_shows_call_lines_only():
    out = io.StringIO()
    try:
        setup_logging(0, "text", out)
        logging.getLogger("listenin.live").info("chatter")
        logging.getLogger(CALLS_LOGGER).info("call ended: %s", "c1")
        logging.getLogger("softphone.device").warning("a warning")
    finally:
        setup_logging(0, "text", sys.stderr)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert "INFO listenin.calls: call ended: c1" in lines[0] and "a warning" in lines[1]


def test_json_lines_carry_the_fields_and_secrets_are_blanked(monkeypatch):
    monkeypatch.setenv("LISTENIN_SIP_PASSWORD", SIP_PASSWORD)
    out = io.StringIO()
    try:
        setup_logging(2, "json", out)
        log = logging.getLogger("listenin.test")
        log.debug("password is %s", SIP_PASSWORD)
        logging.getLogger(CALLS_LOGGER).info(
            "call ended",
            extra={
                "fields": {
                    "call_id": "c1",
                    "codec": "PCMU",
                    "duration_s": 2.5,
                    "reason": SIP_PASSWORD,
                }
            },
        )
    finally:
        setup_logging(0, "text", sys.stderr)
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["level"] == "DEBUG" and first["message"] == "password is ***"
    assert first["logger"] == "listenin.test" and first["ts"].endswith("Z")
    assert second["call_id"] == "c1" and second["codec"] == "PCMU" and second["reason"] == "***"


def test_platform_secret_names_are_known():
    names = secret_env_names({"MY_API_TOKEN": "x", "HOME": "/root"})
    assert {"LISTENIN_SIP_PASSWORD", "LISTENIN_WS_TOKEN", "RC_JWT", "RC_CLIENT_SECRET",
            "GWS_PASSWORD", "YEASTAR_CLIENT_SECRET", "MY_API_TOKEN"} <= set(names)  # fmt: skip
    assert "HOME" not in names
    assert Redact(("ab",)).scrub("ab cd") == "ab cd"  # too short to blank


def test_a_real_call_logs_its_lines_at_the_default_level_as_json():
    """`listenin demo`: pbxsim places a supervise call over SIP; one JSON line per event."""
    r = listenin("--log-format", "json", "demo", "--seconds", "2", "--no-server")
    assert r.returncode == 0, r.stderr[-2000:]
    calls = [json.loads(line) for line in r.stderr.splitlines() if '"listenin.calls"' in line]
    assert [c["event"] for c in calls] == ["answered", "ended"], r.stderr
    answered, ended = calls
    assert answered["parties"] == ["agent", "customer"] and answered["status"] == 200
    assert ended["call_id"] == "demo-1" and ended["codec"] == "PCMU"
    assert ended["duration_s"] > 1 and ended["reason"]
    assert all(c["level"] == "INFO" for c in calls)


def test_secrets_never_reach_the_log_at_vv(tmp_path):
    """A device registering with a password, a token-protected server and a platform
    secret, at -vv and PJSIP's most verbose log: none of the values is printed."""
    env = {"LISTENIN_SIP_PASSWORD": SIP_PASSWORD, "LISTENIN_WS_TOKEN": WS_TOKEN, "RC_JWT": RC_JWT}
    r = listenin("-vv", "run", "--calls", "0", "--front", "none", "--sip-port", "0",
                 "--ws-port", "0", "--registrar", "sip:127.0.0.1:9", "--pjsip-log-level", "6",
                 env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    text = r.stdout + r.stderr
    assert "DEBUG" in text and "REGISTER" in text  # it did log, and registered
    for secret in (SIP_PASSWORD, WS_TOKEN, RC_JWT):
        assert secret not in text

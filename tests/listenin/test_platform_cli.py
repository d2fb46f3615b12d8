"""``listenin supervise`` and ``listenin groups`` against the fake platforms."""

from __future__ import annotations

import json

import pytest

from listenin.cli import build_parser, main
from pbxsim.platforms.placer import CallPlacer
from pbxsim.platforms.ringcentral import FakeRingCentral
from pbxsim.platforms.ringcx import FakeRingCX

AGENT = "400144460001"


def toml(tmp_path, name: str, table: dict) -> str:
    lines = [f"[platforms.{name}]"]
    for key, value in table.items():
        lines.append(f"{key} = {json.dumps(value)}")
    path = tmp_path / "listenin.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture
def rc_env(monkeypatch):
    monkeypatch.setenv("RC_CLIENT_SECRET", "app-secret")
    monkeypatch.setenv("RC_JWT", "jwt-credential")


def test_parser_shapes():
    p = build_parser()
    args = p.parse_args(
        ["supervise", "--platform", "ringcx", "--config", "x.toml", "--session", "U1"]
    )
    assert (args.command, args.platform, args.session, args.watch) == (
        "supervise",
        "ringcx",
        "U1",
        False,
    )
    args = p.parse_args(
        [
            "supervise",
            "--platform",
            "genesys",
            "--config",
            "x.toml",
            "--watch",
            "--bind",
            "10.0.0.5",
            "--max-calls",
            "2",
        ]
    )
    assert args.watch and args.bind == "10.0.0.5" and args.max_calls == 2
    with pytest.raises(SystemExit):
        p.parse_args(["supervise", "--platform", "ringcx", "--session", "U", "--watch"])
    with pytest.raises(SystemExit):
        p.parse_args(["supervise", "--platform", "teams", "--watch"])
    args = p.parse_args(
        [
            "groups",
            "add-members",
            "Support",
            "--agent",
            "1",
            "--agent",
            "2",
            "--supervisor",
            "3",
            "--config",
            "x.toml",
        ]
    )
    assert (args.groups_command, args.agent, args.supervisor) == ("add-members", ["1", "2"], ["3"])


def test_groups_commands_against_the_fake(tmp_path, rc_env, capsys):
    fake = FakeRingCentral(placer=CallPlacer(dial=False)).start()
    fake.add_agent(AGENT, "101")
    try:
        cfg = toml(tmp_path, "ringcentral", {"client_id": "app-id", "server_url": fake.url})
        assert main(["groups", "create", "Night shift", "--config", cfg]) == 0
        gid = capsys.readouterr().out.split("\t")[0]
        assert (
            main(
                [
                    "groups",
                    "add-members",
                    "Night shift",
                    "--agent",
                    AGENT,
                    "--supervisor",
                    fake.supervisor,
                    "--config",
                    cfg,
                ]
            )
            == 0
        )
        assert main(["groups", "rename", gid, "Late shift", "--config", cfg]) == 0
        capsys.readouterr()
        assert main(["groups", "list", "--config", cfg]) == 0
        assert capsys.readouterr().out.splitlines() == [
            f"{gid}\tLate shift",
            f"  {fake.supervisor}\t102\tMonitoring",
            f"  {AGENT}\t101\tMonitored",
        ]
        assert main(["groups", "delete", "Late shift", "--config", cfg]) == 0
        assert main(["groups", "delete", "Late shift", "--config", cfg]) == 2
        assert "no call monitoring group 'Late shift'" in capsys.readouterr().err
    finally:
        fake.stop()


def test_supervise_one_call_and_clear_errors(tmp_path, rc_env, capsys, monkeypatch):
    fake = FakeRingCX(placer=CallPlacer(dial=False)).start()
    try:
        cfg = toml(
            tmp_path,
            "ringcx",
            {
                "client_id": "app-id",
                "account_id": "12440011",
                "destination": "+15554150123",
                "auth_server_url": fake.url,
                "base_url": fake.url + "/voice/api/v1/admin",
            },
        )
        uii = fake.start_call()
        argv = ["supervise", "--platform", "ringcx", "--config", cfg, "--session", uii]
        assert main(argv) == 0
        assert json.loads(capsys.readouterr().out) == {
            "platform": "ringcx",
            "call_id": uii,
            "legs": 1,
            "handles": ["+15554150123"],
        }
        fake.end_call(uii)
        assert main(argv) == 2
        assert f"call {uii} has ended" in capsys.readouterr().err
        monkeypatch.delenv("RC_JWT")
        assert main(argv) == 2
        assert (
            "environment variable RC_JWT (named by jwt_env) is not set" in capsys.readouterr().err
        )
    finally:
        fake.stop()
    bad = toml(
        tmp_path,
        "ringcx",
        {"client_id": "a", "account_id": "1", "destination": "5", "poll_interval": 5},
    )
    assert main(["supervise", "--platform", "ringcx", "--config", bad, "--session", "u"]) == 2
    assert "[platforms.ringcx] poll_interval: unknown key" in capsys.readouterr().err
    assert main(["supervise", "--platform", "yeastar", "--config", bad, "--session", "u"]) == 2
    assert "[platforms.ringcx] poll_interval: unknown key" in capsys.readouterr().err  # any table
    good = toml(tmp_path, "ringcx", {"client_id": "a", "account_id": "1", "destination": "555"})
    assert main(["supervise", "--platform", "yeastar", "--config", good, "--session", "u"]) == 2
    assert "no [platforms.yeastar] table" in capsys.readouterr().err


def test_supervise_watch_runs_the_device_and_prints_the_transcript(tmp_path, rc_env, capsys):
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        sip_port = s.getsockname()[1]
    fake = FakeRingCX(placer=CallPlacer("call2", start_s=20.0, seconds=8.0)).start()
    cfg = toml(tmp_path, "ringcx", {
        "client_id": "app-id", "account_id": "12440011", "destination": "+15554150123",
        "auth_server_url": fake.url, "base_url": fake.url + "/voice/api/v1/admin",
    })  # fmt: skip
    try:
        fake.phones["15554150123"] = f"sip:listenin@127.0.0.1:{sip_port}"
        uii = fake.start_call()
        rc = main(["supervise", "--platform", "ringcx", "--config", cfg, "--watch",
                   "--calls", "1", "--sip-port", str(sip_port), "--rtp-port", "0",
                   "--no-server", "--format", "jsonl", "--workers", "2",
                   "--first-speaker", "agent"])  # fmt: skip
    finally:
        fake.stop()
    out = capsys.readouterr()
    assert rc == 0, out.err[-2000:]
    events = [json.loads(line) for line in out.out.splitlines() if line.startswith("{")]
    text = " ".join(e["text"] for e in events if e["type"] == "transcript.final").lower()
    assert {"pound", "key", "john", "leisure", "consider"} & set(text.replace(".", "").split())
    assert events[-1]["type"] == "call.ended"
    assert {e["call_id"] for e in events} == {uii}  # named after the platform's call
    finals = [e for e in events if e["type"] == "transcript.final" and e["text"]]
    # RingCX MONITOR is one mixed stream: diarized, labelled by the first-speaker hint
    assert finals and all(e["party"] == "mixed" for e in finals)
    assert all(e["speaker_kind"] == "role" and e["speaker"] in ("agent", "customer")
               for e in finals)  # fmt: skip

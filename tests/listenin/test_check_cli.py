"""``listenin check``: one line per check, exit 0 / 1 / 2, nothing started."""

import socket

from listenin.cli import main

BASE = ["check", "--front", "none", "--sip-port", "0", "--ws-port", "0"]


def lines(capsys) -> dict[str, str]:
    out = capsys.readouterr().out.splitlines()
    return {line.split(":", 1)[0].split(None, 1)[1]: line for line in out}


def test_a_good_config_passes_every_check(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RC_CLIENT_SECRET", "client-secret-value")
    monkeypatch.setenv("RC_JWT", "jwt-value")
    monkeypatch.setenv("LISTENIN_SIP_PASSWORD", "pw")
    cfg = tmp_path / "listenin.toml"
    cfg.write_text(f'[archive]\nroot = "{tmp_path / "archive"}"\n'
                   '[platforms.ringcentral]\nclient_id = "abc"\n')  # fmt: skip
    assert main([*BASE, "--config", str(cfg), "--registrar", "sip:pbx.example.com"]) == 0
    got = lines(capsys)
    assert set(got) == {"config", "device", "sip ports", "sip front", "websocket", "archive",
                        "bus", "model", "secrets"}  # fmt: skip
    assert all(line.startswith("ok ") for line in got.values()), got
    assert "platforms.ringcentral" in got["config"] and "writable" in got["archive"]
    assert "LISTENIN_SIP_PASSWORD" in got["secrets"] and "RC_JWT" in got["secrets"]
    assert (tmp_path / "archive").is_dir()


def test_each_problem_is_one_line_and_exit_1(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LISTENIN_SIP_PASSWORD", raising=False)
    monkeypatch.delenv("RC_JWT", raising=False)
    cfg = tmp_path / "listenin.toml"
    cfg.write_text('[platforms.ringcentral]\nclient_id = "abc"\n')
    blocker = tmp_path / "file"
    blocker.write_text("")
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        argv = [*BASE[:-1], str(port), "--config", str(cfg), "--registrar", "sip:pbx.example.com",
                "--archive", str(blocker / "sub"), "--model", "no-such-model"]  # fmt: skip
        assert main(argv) == 1
    got = lines(capsys)
    for name in ("websocket", "archive", "model", "secrets"):
        assert got[name].startswith("problem "), got
    assert "LISTENIN_SIP_PASSWORD (for --registrar)" in got["secrets"]
    assert "RC_JWT (for [platforms.ringcentral] jwt_env)" in got["secrets"]
    assert got["config"].startswith("ok ") and got["device"].startswith("ok ")


def test_bad_file_and_held_sip_port_are_problems(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[archive]\nroot = '/tmp'\nfsync = 'yes'\n")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        assert main([*BASE, "--config", str(cfg), "--sip-port", str(port)]) == 1
    got = lines(capsys)
    assert got["config"].startswith("problem ") and "fsync" in got["config"]
    assert got["sip ports"].startswith("problem ") and str(port) in got["sip ports"]


def test_usage_errors_exit_2(capsys):
    assert main([*BASE, "--workers", "0"]) == 2
    assert "--workers must be >= 1" in capsys.readouterr().err

"""The configuration file: values reach the stages, mistakes are named precisely."""

from __future__ import annotations

import pytest

from listenin.config import ConfigError, archive_config, load_config, server_config


def write(tmp_path, text: str):
    path = tmp_path / "listenin.toml"
    path.write_text(text)
    return path


def test_values_reach_the_server_and_archive_and_the_token_comes_from_the_env(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("MY_TOKEN", "t0k-0123456789abcdef")
    app = load_config(
        write(
            tmp_path,
            f"""
[server]
host = "0.0.0.0"
port = 9000
token_env = "MY_TOKEN"
queue_events = 10
queue_bytes = 65536
stats_interval_s = 1

[archive]
root = "{tmp_path / "rec"}"
folder = "{{call_id}}"

[platforms.ringcentral]
server = "https://platform.example"
""",
        )
    )
    server = server_config(app, port=9100, host=None)
    assert (server.host, server.port, server.token, server.hub.queue_events) == (
        "0.0.0.0", 9100, "t0k-0123456789abcdef", 10)  # fmt: skip
    assert "t0k" not in repr(server) and server.hub.queue_bytes == 65536
    archive = archive_config(app)
    assert archive is not None and archive.folder == "{call_id}"
    assert app.platforms["ringcentral"]["server"] == "https://platform.example"


def test_no_file_means_defaults_and_no_recording():
    app = load_config(None)
    assert server_config(app).port == 8765
    assert archive_config(app) is None
    assert archive_config(app, root="/tmp/x") is not None


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[server\nport = 1", "not valid TOML"),
        ("[sever]\nport = 1", r"unknown section\(s\) \['sever'\]"),
        ("[server]\nprot = 1", "unknown key 'prot'"),
        ('[server]\nport = "80"', "port has the wrong type"),
        ("[server]\nport = true", "port has the wrong type"),
        ("[server]\ntoken = 'secret'", "unknown key 'token'"),
        ("[archive]\nfolder = 'x'", "needs root"),
        ("[archive]\nroot = '/tmp'\nfolder = '../up'", "archive"),
        ("[archive]\nroot = '/tmp'\nbogus = 1", r"unknown key\(s\) \['bogus'\]"),
        ("platforms = 3", "platforms must be a table"),
    ],
)
def test_mistakes_are_refused_with_where_and_why(tmp_path, text, match):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=match) as err:
        app = load_config(path)
        archive_config(app)
    assert str(path) in str(err.value)


def test_server_values_are_checked_by_the_server_config(tmp_path, monkeypatch):
    monkeypatch.delenv("LISTENIN_WS_TOKEN", raising=False)
    app = load_config(write(tmp_path, '[server]\nhost = "10.0.0.5"'))
    with pytest.raises(ConfigError, match="without a token"):
        server_config(app)
    with pytest.raises(ConfigError, match="port must be"):
        server_config(load_config(write(tmp_path, "[server]\nport = 70000")))
    monkeypatch.setenv("LISTENIN_WS_TOKEN", "abc")
    with pytest.raises(ConfigError, match="token is too short"):
        server_config(app)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


def test_cli_refuses_a_public_server_without_a_token_and_a_broken_config(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "LISTENIN_WS_TOKEN"}
    run = [sys.executable, "-m", "listenin", "run", "--sip-port", "0", "--rtp-port", "0"]
    r = subprocess.run([*run, "--ws-host", "0.0.0.0"], capture_output=True, text=True,
                       timeout=60, env=env)  # fmt: skip
    assert r.returncode != 0 and "without a token" in r.stderr
    bad = write(tmp_path, "[server]\nport = 'x'")
    r = subprocess.run([*run, "--config", str(bad)], capture_output=True, text=True,
                       timeout=60, env=env)  # fmt: skip
    assert r.returncode != 0 and "port has the wrong type" in r.stderr
    r = subprocess.run(run, capture_output=True, text=True, timeout=60,
                       env={**env, "LISTENIN_WS_TOKEN": "abc"})  # fmt: skip
    assert r.returncode == 2 and r.stderr.startswith("listenin: error:") and "too short" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "abc" not in r.stderr

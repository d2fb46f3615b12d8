"""The configuration file: values reach the stages, mistakes are named precisely."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import fields

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listenin.config import (
    SERVER_KEYS,
    ConfigError,
    archive_config,
    load_config,
    platform_settings,
    server_config,
)
from platforms.config import RingCentralConfig
from sinks.archive import ArchiveConfig


def write(tmp_path, text: str | bytes):
    path = tmp_path / "listenin.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
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
fsync = true

[platforms.ringcentral]
client_id = " app-id "
server_url = "https://platform.example"
""",
        )
    )
    server = server_config(app, port=9100, host=None)
    assert (server.host, server.port, server.token, server.hub.queue_events) == (
        "0.0.0.0", 9100, "t0k-0123456789abcdef", 10)  # fmt: skip
    assert server.stats_interval_s == 1.0 and isinstance(server.stats_interval_s, float)
    assert "t0k" not in repr(server) and server.hub.queue_bytes == 65536
    archive = archive_config(app)
    assert archive is not None and archive.folder == "{call_id}" and archive.fsync is True
    rc = platform_settings(app, "ringcentral")
    assert isinstance(rc, RingCentralConfig) and rc.server_url == "https://platform.example"
    assert rc.client_id == "app-id"  # surrounding blanks of a pasted value dropped


def test_no_file_means_defaults_and_no_recording(tmp_path):
    app = load_config(None)
    assert server_config(app).port == 8765
    assert archive_config(app) is None
    assert archive_config(app, root=str(tmp_path / "x")) is not None


A = "[archive]\nroot = '/tmp'\n"
RC = "[platforms.ringcentral]\nclient_id = 'a'\n"
PRC = "[platforms.ringcentral] "
BAD = [
    # (file text, the key the message names, the problem)
    ("[sever]\nport = 1", "[sever]", "unknown table"),
    ("port = 1", "port", "unknown key outside any table"),
    ("[server]\nprot = 1", "[server] prot", "unknown key"),
    ('[server]\n"a\\u001b[2Jb" = 1', r'[server] "a\u001b[2Jb"', "unknown key"),
    ("[server]\ntoken = 'secret'", "[server] token", "unknown key"),
    ('[server]\nport = "80"', "[server] port", 'expected an integer, got "80"'),
    ("[server]\nport = true", "[server] port", "expected an integer, got true"),
    ("[server]\nport = 80.0", "[server] port", "expected an integer, got 80.0"),
    ("[server]\nport = 70000", "[server] port", "must be 0-65535"),
    ("[server]\nstats_interval_s = nan", "[server] stats_interval_s", "a finite number"),
    ("[server]\nstats_interval_s = -1", "[server] stats_interval_s", "within 0..3600"),
    ("[server]\nstats_interval_s = false", "[server] stats_interval_s", "expected a number"),
    (
        '[server]\ncompression = "false"',
        "[server] compression",
        'boolean (true or false), got "false"',
    ),
    ("[server]\ncompression = 0", "[server] compression", "expected a boolean"),
    ("[server]\nhost = 127", "[server] host", "expected a string, got 127"),
    ('[server]\nhost = "a\\nb"', "[server] host", "control characters"),
    ('[server]\ntls_cert = ""\ntls_key = "k"', "[server] tls_cert", "a non-empty path"),
    ("[server]\ntls_cert = 5", "[server] tls_cert", "a non-empty path, got 5"),
    ('[server]\ntoken_env = ""', "[server] token_env", "environment variable name"),
    ('[server]\ntoken_env = "A B"', "[server] token_env", "environment variable name"),
    ("[server]\nqueue_events = 0", "[server] queue_events", "must be >= 1"),
    ("[server]\nmax_message_bytes = 10", "[server] max_message_bytes", "256..16777216"),
    ("server = 3", "server", "must be a table"),
    ("[archive]\nfolder = 'x'", "[archive] root", "missing (required)"),
    ("[archive]\nroot = ''", "[archive] root", "expected a non-empty path"),
    ("[archive]\nroot = '   '", "[archive] root", "expected a non-empty path"),
    ("[archive]\nroot = 5", "[archive] root", "expected a non-empty path, got 5"),
    (A + "enabled = 'false'", "[archive] enabled", 'got "false"'),
    (A + "fsync = 'yes'", "[archive] fsync", 'expected a boolean (true or false), got "yes"'),
    (
        A + "flush_interval_ms = 'abc'",
        "[archive] flush_interval_ms",
        'expected an integer, got "abc"',
    ),
    (A + "flush_interval_ms = 0", "[archive] flush_interval_ms", "within 1..60000"),
    (A + "flush_interval_ms = true", "[archive] flush_interval_ms", "expected an integer"),
    (A + "stereo_rate_hz = 3", "[archive] stereo_rate_hz", "8000..48000"),
    (A + "folder = 5", "[archive] folder", "expected a string, got 5"),
    (A + "folder = ['a']", "[archive] folder", 'expected a string, got an array ["a"]'),
    (A + "folder = {a = 1}", "[archive] folder", "expected a string, got a table"),
    (A + "folder = '../up'", "[archive] folder", ".."),
    (A + "bogus = 1", "[archive] bogus", "unknown key"),
    ("platforms = 3", "platforms", "one table per platform"),
    ("[platforms]\nringcentral = 3", "[platforms] ringcentral", "must be a table"),
    ("[platforms.teams]\nx = 1", "[platforms] teams", "unknown platform"),
    ('[platforms."t\\u001b"]\nx = 1', r'[platforms] "t\u001b"', "unknown platform"),
    ("[platforms.ringcentral]\ndevice_id = '1'", PRC + "client_id", "missing"),
    (RC + "server = 'x'", PRC + "server", "unknown key"),
    (RC + "poll_interval_s = '5'", PRC + "poll_interval_s", 'expected a number, got "5"'),
    (RC + "max_retries = true", PRC + "max_retries", "expected an integer, got true"),
    (RC + "jwt_env = ''", PRC + "jwt_env", "environment variable name"),
    (RC + "groups = ['']", PRC + "groups", "empty string"),
    (RC + "groups = [1]", PRC + "groups", "expected a string, got 1"),
]


@pytest.mark.parametrize(("text", "key", "problem"), BAD)
def test_every_mistake_names_the_file_the_key_and_the_problem_on_one_line(
    tmp_path, text, key, problem
):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        app = load_config(path)
        server_config(app)
        archive_config(app)
    message = str(err.value)
    assert message.startswith(f"{path}: {key}"), message
    assert problem in message and "\n" not in message


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[server\nport = 1", "not valid TOML"),
        ("a = = 1", "not valid TOML"),
        (b"\xff\xfe\x00garbage\x9b[31m", "not valid TOML (not UTF-8 text"),
        (bytes(range(256)) * 8, "not valid TOML"),
        ("x = " + "[" * 100_000, "not valid TOML"),
        ("x = 1\n" * 300_000, "over 1048576"),
    ],
)
def test_a_file_that_is_not_toml_is_one_clear_line(tmp_path, content, problem):
    path = write(tmp_path, content)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message


def test_a_missing_file_a_folder_and_an_unreadable_file_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="nope.toml: cannot read .No such file"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="cannot read .it is a folder"):
        load_config(tmp_path)
    if os.geteuid() != 0:  # root reads anything
        path = write(tmp_path, "")
        path.chmod(0)
        with pytest.raises(ConfigError, match="cannot read .Permission denied"):
            load_config(path)


def test_server_values_are_checked_by_the_server_config(tmp_path, monkeypatch):
    monkeypatch.delenv("LISTENIN_WS_TOKEN", raising=False)
    app = load_config(write(tmp_path, '[server]\nhost = "10.0.0.5"'))
    with pytest.raises(ConfigError, match="without a token: set LISTENIN_WS_TOKEN"):
        server_config(app)
    with pytest.raises(ConfigError, match="port must be"):
        server_config(load_config(write(tmp_path, "[server]\nport = 70000")))
    monkeypatch.setenv("LISTENIN_WS_TOKEN", "abc")
    with pytest.raises(ConfigError, match="token in LISTENIN_WS_TOKEN is too short"):
        server_config(app)


def test_the_token_error_names_the_variable_actually_configured(tmp_path, monkeypatch):
    monkeypatch.delenv("MY_WS_TOKEN", raising=False)
    app = load_config(write(tmp_path, '[server]\nhost = "10.0.0.5"\ntoken_env = "MY_WS_TOKEN"'))
    with pytest.raises(ConfigError, match="without a token: set MY_WS_TOKEN") as err:
        server_config(app)
    assert "LISTENIN_WS_TOKEN" not in str(err.value)


def test_tls_files_are_checked_at_start_and_named(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    text = f'[server]\ntls_cert = "{cert}"\ntls_key = "{key}"'
    app = load_config(write(tmp_path, text))
    with pytest.raises(ConfigError, match=f"tls_cert: cannot read {cert} .No such file"):
        server_config(app)
    cert.write_text("not a certificate")
    with pytest.raises(ConfigError, match=f"tls_key: cannot read {key} .No such file"):
        server_config(app)
    key.write_text("not a key")
    with pytest.raises(ConfigError, match=f"{cert} and {key} are not a PEM certificate"):
        server_config(app)


def test_tls_files_that_work_are_accepted(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
         "-days", "1", "-keyout", str(key), "-out", str(cert)],
        capture_output=True,
    )  # fmt: skip
    if made.returncode:
        pytest.skip("openssl cannot make a test certificate here")
    app = load_config(write(tmp_path, f'[server]\ntls_cert = "{cert}"\ntls_key = "{key}"'))
    assert server_config(app).scheme == "wss"


def test_the_archive_root_is_checked_at_start(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    app = load_config(write(tmp_path, f'[archive]\nroot = "{blocker}/rec"'))
    with pytest.raises(
        ConfigError, match=rf"\[archive\] root: cannot create folder {blocker}/rec .Not a directory"
    ):
        archive_config(app, check_root=True)
    with pytest.raises(
        ConfigError, match=f"--archive: cannot create folder {blocker} .File exists"
    ):
        archive_config(app, str(blocker), check_root=True)
    with pytest.raises(ConfigError, match="--archive: expected a folder, got an empty path"):
        archive_config(app, "", check_root=True)
    ok = archive_config(app, str(tmp_path / "new" / "rec"), check_root=True)
    assert ok is not None and (tmp_path / "new" / "rec").is_dir()
    off = load_config(write(tmp_path, f'[archive]\nroot = "{blocker}/x"\nenabled = false'))
    assert archive_config(off, check_root=True) is not None  # recording off: nothing made


def test_a_missing_platform_table_is_named(tmp_path):
    app = load_config(write(tmp_path, "[server]\nport = 1"))
    with pytest.raises(ConfigError, match=r"no \[platforms.ringcx\] table"):
        platform_settings(app, "ringcx")


RUN = [sys.executable, "-m", "listenin", "run", "--sip-port", "0", "--rtp-port", "0"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LISTENIN_WS_TOKEN"}
    return subprocess.run([*RUN, *args], capture_output=True, text=True, timeout=60, env=env)


def test_cli_refuses_a_public_server_without_a_token(tmp_path):
    r = _run("--ws-host", "0.0.0.0")
    assert r.returncode == 2 and "without a token" in r.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[archive]\nroot = '/tmp/x'\nenabled = \"false\"",
         '[archive] enabled: expected a boolean (true or false), got "false"'),
        ("\x00\x01binary", "not valid TOML"),
        ("[server]\ntls_cert = '/nonexistent/c.pem'\ntls_key = '/nonexistent/k.pem'",
         "[server] tls_cert: cannot read /nonexistent/c.pem"),
    ],
)  # fmt: skip
def test_cli_a_broken_config_is_one_error_line_and_exit_2(tmp_path, text, expected):
    bad = write(tmp_path, text)
    r = _run("--config", str(bad))
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(f"listenin: error: {bad}: {expected}")
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


VALUES = st.one_of(
    st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(), st.text(max_size=20),
    st.lists(st.one_of(st.integers(), st.text(max_size=5)), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)  # fmt: skip
KEYS = {"server": list(SERVER_KEYS), "archive": [f.name for f in fields(ArchiveConfig)],
        "platforms.ringcentral": [f.name for f in fields(RingCentralConfig)]}  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    section=st.sampled_from(sorted(KEYS)),
    data=st.data(),
)
def test_any_value_for_any_key_is_accepted_or_one_config_error(tmp_path_factory, section, data):
    keys = data.draw(st.lists(st.sampled_from(KEYS[section]), min_size=1, max_size=4, unique=True))
    table = {key: data.draw(VALUES) for key in keys}
    if section == "archive":
        table.setdefault("root", "/tmp/listenin-fuzz")
    text = f"[{section}]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in table.items())
    path = tmp_path_factory.mktemp("fuzz") / "f.toml"
    path.write_text(text)
    accepted_or_one_error(path)


@settings(max_examples=200, deadline=None)
@given(content=st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_any_file_content_is_accepted_or_one_config_error(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("fuzz") / "f.toml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "replace"))
    accepted_or_one_error(path)


def accepted_or_one_error(path) -> None:
    """The file loads and every table builds, or one ConfigError line naming the file."""
    try:
        app = load_config(path)
        server_config(app)
        archive_config(app)
    except ConfigError as err:
        assert str(err).startswith(f"{path}: ") and "\n" not in str(err)


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if value != value else ("inf" if value > 0 else "-inf") if value in (
            float("inf"), float("-inf")) else repr(value)  # fmt: skip
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    return str(value)


def test_cli_refuses_a_short_token_without_printing_it():
    env = {k: v for k, v in os.environ.items() if k != "LISTENIN_WS_TOKEN"}
    r = subprocess.run(RUN, capture_output=True, text=True, timeout=60,
                       env={**env, "LISTENIN_WS_TOKEN": "abc"})  # fmt: skip
    assert r.returncode == 2 and r.stderr.startswith("listenin: error:") and "too short" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "abc" not in r.stderr


def test_the_bus_table_reaches_the_bus_config_and_the_flag_wins(tmp_path):
    from listenin.config import bus_config

    path = write(tmp_path, '[bus]\nurl = "redis://10.0.0.5:6379/1"\nmaxlen_per_call = 500\n'
                           'index_maxlen = 200\nstream_prefix = "site-a"\nqueue_entries = 64\n'
                           "ended_ttl_s = 0\n")  # fmt: skip
    app = load_config(path)
    config = bus_config(app)
    assert config is not None
    assert (config.url, config.maxlen_per_call, config.index_maxlen, config.stream_prefix,
            config.queue_entries, config.ended_ttl_s) == (
        "redis://10.0.0.5:6379/1", 500, 200, "site-a", 64, 0)  # fmt: skip
    assert bus_config(app, "redis://127.0.0.1:7000/0").url == "redis://127.0.0.1:7000/0"
    assert bus_config(load_config(None)) is None


@pytest.mark.parametrize(
    "table, needle",
    [
        ('[bus]\nurl = "redis://h/0"\nmaxlen = 5\n', "[bus] maxlen: unknown key"),
        (
            '[bus]\nurl = "redis://h/0"\nmaxlen_per_call = "big"\n',
            "[bus] maxlen_per_call: expected",
        ),
        (
            '[bus]\nurl = "redis://h/0"\nmaxlen_per_call = 5\n',
            "[bus] maxlen_per_call must be >= 100",
        ),
        ('[bus]\nurl = "ftp://h/0"\n', "[bus] url must look like redis://"),
        ("[bus]\nmaxlen_per_call = 500\n", "[bus] url: missing (or give --bus URL)"),
    ],
)
def test_bad_bus_tables_are_one_precise_line(tmp_path, table, needle):
    from listenin.config import bus_config

    path = write(tmp_path, table)
    with pytest.raises(ConfigError) as err:
        bus_config(load_config(path))
    assert str(err.value).startswith(f"{path}: ") and needle in str(err.value)

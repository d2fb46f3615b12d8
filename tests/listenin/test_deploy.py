"""The deployment files: the systemd unit and the Dockerfile run real commands."""

import configparser
import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from listenin.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "listenin.service"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser


def test_unit_has_the_expected_keys():
    u = unit()
    service = u["Service"]
    assert service["User"] == "listenin" and service["StateDirectory"] == "listenin"
    assert service["EnvironmentFile"] == "/etc/listenin/env"
    assert service["Restart"] == "on-failure"
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    assert "/var/lib/listenin" in service["ReadWritePaths"].split()
    assert u["Install"]["WantedBy"] == "multi-user.target"
    for key in ("ExecStartPre", "ExecStart"):
        # what systemd makes of $LISTENIN_ARGS from the EnvironmentFile: separate words
        words = "--bind 10.0.0.5 --trust 203.0.113.0/24"
        argv = shlex.split(service[key].replace("$LISTENIN_ARGS", words))
        assert argv[0].endswith("/listenin")
        args = build_parser().parse_args(argv[1:])  # real sub-command and options
        assert args.config == "/etc/listenin/listenin.toml" and args.archive == "/var/lib/listenin"
        assert args.bind == "10.0.0.5" and args.trust == ["203.0.113.0/24"]
    assert shlex.split(service["ExecStart"])[1] == "run"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    # the binary it names need not exist here: point it at a real one to verify the rest
    text = UNIT.read_text().replace("/usr/local/bin/listenin", shutil.which("true") or "/bin/true")
    (tmp_path / "listenin.service").write_text(text)
    r = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "listenin.service")],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    problems = [line for line in r.stderr.splitlines() if "listenin.service" in line]
    assert not problems, r.stderr


def test_dockerfile_runs_a_real_command():
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    assert lines[[i for i, line in enumerate(lines) if line.startswith("FROM")][0]].endswith(
        "python:3.11-slim-bookworm"
    )
    entry = json.loads(next(line for line in lines if line.startswith("ENTRYPOINT"))[10:])
    cmd = json.loads(next(line for line in lines if line.startswith("CMD"))[3:])
    assert entry == ["listenin"]
    args = build_parser().parse_args(cmd)
    assert args.command == "run" and args.archive == "/var/lib/listenin"
    text = "\n".join(lines)
    assert "USER listenin" in text and "kamailio" in text and "8765/tcp" in text
    assert "http://127.0.0.1:8765/healthz" in text

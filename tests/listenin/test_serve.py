"""Choosing the SIP front (``--front``) before anything starts."""

import pytest

from listenin.cli import build_parser
from listenin.options import CliError, device_config
from listenin.serve import front_wanted


def choose(*argv: str) -> bool:
    args = build_parser().parse_args(["run", *argv])
    return front_wanted(args, device_config(args))


def test_auto_is_kamailio_when_installed_and_none_says_no(monkeypatch, capsys):
    monkeypatch.setattr("softphone.kamailio.kamailio_binary", lambda: "/usr/sbin/kamailio")
    assert choose() is True
    assert choose("--front", "kamailio") is True
    assert choose("--front", "none") is False
    assert capsys.readouterr().err == ""


def test_auto_without_kamailio_warns_once_that_the_device_is_exposed(monkeypatch, capsys):
    monkeypatch.setattr("softphone.kamailio.kamailio_binary", lambda: None)
    assert choose() is False
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("listenin: warning: kamailio is not installed: ")
    assert "exposed directly" in line
    with pytest.raises(CliError, match="kamailio is not installed"):
        choose("--front", "kamailio")


def test_auto_with_tls_leaves_the_front_out(monkeypatch, capsys):
    monkeypatch.setattr("softphone.kamailio.kamailio_binary", lambda: "/usr/sbin/kamailio")
    tls = ("--tls-cert", "/etc/hostname", "--tls-key", "/etc/hostname")
    assert choose("--tls-port", "5061", *tls) is False
    assert "TLS is not carried" in capsys.readouterr().err

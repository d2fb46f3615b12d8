"""Address parsing shared by the trusted-source settings and admission."""

import pytest

from softphone.addresses import hostport, is_trusted, split_source, uri_hostport


def test_registrar_uri_to_trusted_entry():
    assert uri_hostport("sip:127.0.0.1:5060;transport=udp") == "127.0.0.1:5060"
    assert uri_hostport("sip:listenin@10.0.0.1") == "10.0.0.1"


def test_trust_rules():
    assert split_source("[::1]:5060") == ("::1", 5060)
    assert split_source("127.0.0.1") == ("127.0.0.1", None)
    assert is_trusted("127.0.0.1:5080", ("127.0.0.1:5080",))
    assert not is_trusted("127.0.0.1:5081", ("127.0.0.1:5080",))
    assert is_trusted("10.9.8.7:1", ("10.0.0.0/8",))
    assert is_trusted("[::1]:5060", ("::1",))
    assert not is_trusted("not-an-ip:5060", ("not-an-ip",))


def test_hostport_is_an_ip_address_with_a_port_spelled_for_a_uri():
    assert hostport("10.0.0.5:5070") == "10.0.0.5:5070"
    assert hostport("[2001:DB8:0::5]:5070") == "[2001:db8::5]:5070"
    for bad in ("10.0.0.5", "node1:5070", "10.0.0.0/8", "10.0.0.5:0", "10.0.0.5:x", "::1:5070"):
        with pytest.raises(ValueError):
            hostport(bad)

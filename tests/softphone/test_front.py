"""The SIP front: its rendered kamailio config, exactly, and a real ``listenin run`` behind it.

The process tests flood a ``listenin run --front kamailio`` process the way that
used to abort PJSIP (offers with 16 audio lines, ~1000 INVITEs per second from
many loopback addresses), then check it is alive and still answers and
transcribes a real call; and that the process stops, status 1, when kamailio dies.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from pbxsim.hostile import RawInvite, sdp
from softphone.config import (
    AccountConfig,
    AdmissionConfig,
    ConfigError,
    DeviceConfig,
    TransportConfig,
)
from softphone.front import (
    CLUSTER_MESSAGE_BYTES,
    FrontConfig,
    behind_front,
    cluster_config,
    front_config,
    render_config,
    render_destinations,
    trust_test,
)
from softphone.kamailio import check_config

from ..waiting import wait_for
from .running import RunningDevice, answered_by, free_udp_port, place_call, wait_until_answering

needs_kamailio = pytest.mark.skipif(
    shutil.which("kamailio") is None, reason="kamailio is not installed (apt-get install kamailio)"
)

EXAMPLE = FrontConfig(
    "192.0.2.10", 5060, ("127.0.0.1:40001", "127.0.0.1:40003"), 40002, tcp_port=5061,
    trusted=("127.0.0.1", "10.0.0.0/8", "192.0.2.7:5060", "::1", "pbx.example.com"),
    flood_reply=True,
)  # fmt: skip

EXPECTED = """\
#!KAMAILIO
# listenin SIP front (rendered by softphone/front.py)
# public 192.0.2.10:5060, devices sip:127.0.0.1:40001 sip:127.0.0.1:40003
debug=-1
log_stderror=yes
children=2
auto_aliases=no
listen=udp:192.0.2.10:5060
listen=udp:127.0.0.1:40002
listen=tcp:192.0.2.10:5061
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "sanity.so"
loadmodule "pike.so"
loadmodule "ipops.so"
loadmodule "htable.so"
loadmodule "dispatcher.so"
loadmodule "nathelper.so"
modparam("pike", "sampling_time_unit", 2)
modparam("pike", "reqs_density_per_unit", 30)
modparam("pike", "remove_latency", 4)
modparam("rr", "enable_double_rr", 1)
modparam("sanity", "autodrop", 1)
modparam("htable", "htable", "invites=>size=6;autoexpire=2;")
modparam("dispatcher", "list_file", "/etc/kamailio/listenin-devices.list")
modparam("dispatcher", "ds_ping_interval", 1)
modparam("dispatcher", "ds_probing_mode", 1)
modparam("dispatcher", "ds_probing_threshold", 1)
modparam("dispatcher", "ds_inactive_threshold", 1)
modparam("dispatcher", "ds_ping_from", "sip:front@127.0.0.1")

request_route {
    # the devices' own requests (their BYEs) go out along the dialog's route
    if (ds_is_from_list("1", "2")) { route(FROM_DEVICE); exit; }
    # the rules, in order: nothing refused here reaches a device
    if (!sanity_check()) { exit; }
    if (is_method("ACK") && $ml > 3900) { exit; }
    if ($ml > 3900) { sl_send_reply("513", "Message Too Large"); exit; }
    # an untrusted source IP over pike_requests per pike_window_s is blocked while it keeps
    # sending (a trusted platform sends every call from one address: the budget holds it)
    if (!route(TRUSTED) && !pike_check_req()) {
        append_to_reply("Retry-After: 5\\r\\n"); sl_send_reply("503", "Flood"); exit;
    }
    if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
    if (is_method("INVITE")) {
        if (!route(TRUSTED)) { sl_send_reply("403", "Untrusted Source"); exit; }
        if ($rb =~ "(\\nm=.*){9}") { sl_send_reply("488", "Too Many Media"); exit; }
        if ($rb =~ "(\\nm=audio.*){5}") { sl_send_reply("488", "Too Many Audio"); exit; }
        if (!has_totag() && !has_body()) { sl_send_reply("488", "No SDP Offer"); exit; }
    }
    # forwarding: only to a device, never anywhere else
    if (is_method("CANCEL")) { if (t_check_trans()) { t_relay(); } exit; }
    if (has_totag()) {
        if (!loose_route() && is_method("ACK")) { if (t_check_trans()) { t_relay(); } exit; }
        # the device's Contact names the front when it registers: its alias names the device
        if ($ru =~ ";alias=") { handle_ruri_alias(); }
        if (!ds_is_from_list("1", "2", "$nh(u)")) { sl_send_reply("404", "Not Here"); exit; }
        route(TO_DEVICE);
    }
    if (!is_method("INVITE|OPTIONS")) { sl_send_reply("405", "Method Not Allowed"); exit; }
    if (uri != myself) { sl_send_reply("404", "Not Here"); exit; }
    # a new call: the next device in turn that is alive and within its INVITE budget
    if (!ds_select_dst("1", "4")) {
        append_to_reply("Retry-After: 5\\r\\n"); sl_send_reply("503", "No Device"); exit;
    }
    if (is_method("INVITE")) {
        if (!route(BUDGET)) {
            append_to_reply("Retry-After: 1\\r\\n"); sl_send_reply("503", "Busy"); exit;
        }
        record_route();
        t_on_failure("NEXT_DEVICE");
        t_set_fr(30000, 1500);
    }
    route(TO_DEVICE);
}

# each device's offers hold its PJSIP sockets for ~500 ms after they end: a device
# over its budget of audio lines in this window is skipped for the next one
route[BUDGET] {
    $var(cost) = 1;
    if ($rb =~ "(\\nm=audio.*){2}") { $var(cost) = 4; }
    $var(window) = ($TV(s) mod 1000) * 4 + $TV(u) / 250000;
    while (1) {
        $var(key) = $du + "/" + $var(window);
        $var(i) = 0;
        while ($var(i) < $var(cost)) {
            $var(n) = $shtinc(invites=>$var(key));
            if ($var(n) == 0) { $sht(invites=>$var(key)) = 1; $var(n) = 1; }
            $var(i) = $var(i) + 1;
        }
        if ($var(n) <= 4) { return 1; }
        if (!ds_next_dst()) { return -1; }
    }
}

route[TO_DEVICE] {
    # a device believes this header only from this front's loopback socket
    remove_hf("X-Listenin-Source");
    if (af == INET6) { append_hf("X-Listenin-Source: [$si]:$sp\\r\\n"); }
    else { append_hf("X-Listenin-Source: $si:$sp\\r\\n"); }
    force_send_socket(udp:127.0.0.1:40002);
    if (!t_relay()) { sl_reply_error(); }
    exit;
}

# a device that is full (486) or silent (dead: marked inactive until it answers
# the dispatcher's OPTIONS again) hands the INVITE to the next one
failure_route[NEXT_DEVICE] {
    if (t_is_canceled()) { exit; }
    if (t_branch_timeout() || t_check_status("408")) { ds_mark_dst("ip"); }
    else if (!t_check_status("486")) { exit; }
    if (!ds_next_dst()) { exit; }
    if (!route(BUDGET)) {
        append_to_reply("Retry-After: 1\\r\\n"); t_reply("503", "Busy"); exit;
    }
    t_on_failure("NEXT_DEVICE");
    t_set_fr(30000, 1500);
    force_send_socket(udp:127.0.0.1:40002);
    t_relay();
}

onreply_route {
    if (is_method("INVITE") && ds_is_from_list("1", "2")) { add_contact_alias(); }
}

route[FROM_DEVICE] {
    if (has_totag() && loose_route()) { t_relay(); exit; }
    sl_send_reply("404", "Not Here");
}

route[TRUSTED] {
    if (is_in_subnet("$si", "127.0.0.1/32")) { return 1; }
    if (is_in_subnet("$si", "10.0.0.0/8")) { return 1; }
    if ((is_in_subnet("$si", "192.0.2.7/32") && $sp == 5060)) { return 1; }
    if (is_in_subnet("$si", "::1/128")) { return 1; }
    return -1;
}
"""


def test_render_config_is_exactly_the_rules_in_order():
    assert render_config(EXAMPLE) == EXPECTED


def test_trusted_entries_become_source_conditions():
    assert trust_test("10.1.2.3/16") == 'is_in_subnet("$si", "10.1.0.0/16")'
    assert trust_test("[::1]:5060") == '(is_in_subnet("$si", "::1/128") && $sp == 5060)'
    assert trust_test("pbx.example.com") is None  # sources are addresses, never names


@needs_kamailio
@pytest.mark.parametrize(
    "config",
    [
        EXAMPLE,
        FrontConfig("127.0.0.1", 5070, ("127.0.0.1:40001",), 40002),
        FrontConfig("::1", 5070, ("127.0.0.1:40001",), 40002, trusted=()),
        FrontConfig(
            "127.0.0.1", 5070, ("127.0.0.1:40001",), 40002, max_audio_lines=1, invite_window_ms=1000
        ),
    ],
    ids=["example", "default", "ipv6-nobody-trusted", "one-stream"],
)
def test_kamailio_accepts_the_rendered_config(config):
    assert check_config(render_config(config), devices=render_destinations(config)) is None


def test_a_config_kamailio_would_refuse_is_refused_first():
    with pytest.raises(ConfigError, match="IP address"):
        FrontConfig("pbx.example.com", 5060, ("127.0.0.1:40001",), 40002)
    with pytest.raises(ConfigError, match="max_audio_lines"):
        FrontConfig("127.0.0.1", 5060, ("127.0.0.1:40001",), 40002, max_audio_lines=9)
    with pytest.raises(ConfigError, match="invite_window_ms"):
        FrontConfig("127.0.0.1", 5060, ("127.0.0.1:40001",), 40002, invite_window_ms=300)


def test_the_front_and_the_device_are_derived_from_one_device_config():
    config = DeviceConfig(
        account=AccountConfig("1042", "example.com", registrar="sip:10.0.0.9:5080"),
        transport=TransportConfig("192.0.2.10", 5060, tcp_port=5061, rtp_port=40000),
        admission=AdmissionConfig(trusted=("203.0.113.0/24",), max_streams=2),
    )
    front = front_config(config, (41000,), 41001)
    assert (front.public, front.tcp_port, front.destinations, front.internal) == (
        "192.0.2.10:5060",
        5061,
        ("127.0.0.1:41000",),
        "127.0.0.1:41001",
    )
    assert front.trusted == ("203.0.113.0/24", "10.0.0.9:5080")  # the registrar too
    assert front.max_audio_lines == 2
    device = behind_front(config, 41001)
    t = device.transport
    assert (t.bind_address, t.udp_port, t.tcp_port, t.rtp_address, t.rtp_port) == (
        "127.0.0.1",
        0,
        None,
        "192.0.2.10",
        40000,
    )
    assert device.account.contact == "sip:1042@192.0.2.10:5060"  # registered: via the front
    assert device.admission.front_source == "127.0.0.1:41001"
    unregistered = replace(config, account=AccountConfig("1042", "example.com"))
    assert behind_front(unregistered, 41001).account.contact is None
    nat = replace(config, transport=replace(config.transport, rtp_address="198.51.100.4"))
    assert behind_front(nat, 41001).transport.rtp_address == "198.51.100.4"


CLUSTER = cluster_config(
    "192.0.2.1", 5060, ("10.0.0.5:5070", "[2001:db8::5]:5070"), trusted=("198.51.100.0/24",),
    draining=("10.0.0.4:5070",),
)  # fmt: skip


def test_a_cluster_front_dispatches_to_nodes_from_its_public_socket():
    text = render_config(CLUSTER, control="/run/listenin/ctl")
    assert "listen=udp:192.0.2.1:5060\nmpath" in text  # no loopback socket to devices
    assert "force_send_socket" not in text and "route(BUDGET)" not in text
    assert 'modparam("ctl", "binrpc", "unix:/run/listenin/ctl")' in text  # for kamcmd reload
    # the legs of one supervised call hash to one node; dead ones are skipped
    assert 'modparam("dispatcher", "hash_pvar", "$var(call)")' in text
    assert "$(hdr(p-rc-api-monitoring-ids){param.value,session-id})" in text
    assert 'if (!ds_select_domain("1", "7"))' in text  # the request URI names the node
    assert 'else if (!t_check_status("486|503")) { exit; }' in text
    assert "if (!ds_next_domain()) { exit; }" in text
    assert "add_contact_alias" not in text and "handle_ruri_alias" not in text
    # the nodes in any set, draining ones (set 2) too, still get and send in-dialog requests
    assert 'if (ds_is_from_list("-1", "2")) { route(FROM_NODE); exit; }' in text
    assert 'if (!ds_is_from_list("-1", "2", "$nh(u)")) { sl_send_reply("404"' in text
    assert f"$ml > {CLUSTER_MESSAGE_BYTES})" in text  # room for what it adds before the node
    assert render_destinations(CLUSTER).splitlines()[1:] == [
        "1 sip:10.0.0.5:5070 0 0 duid=node0",
        "1 sip:[2001:db8::5]:5070 0 0 duid=node1",
        "2 sip:10.0.0.4:5070 0 0 duid=draining0",  # no new calls: only set 1 is selected
    ]


def test_a_node_behind_a_cluster_front_trusts_it_and_keeps_its_source_header():
    config = DeviceConfig(
        transport=TransportConfig("10.0.0.5", 5070),
        admission=AdmissionConfig(trusted=("198.51.100.0/24",), front_source="10.0.0.1:5060"),
    )
    front = front_config(config, (41000,), 41001)
    assert front.trusted == ("198.51.100.0/24", "10.0.0.1:5060")
    assert front.upstream == "10.0.0.1:5060"
    text = render_config(front)
    kept = (
        '    if (!((is_in_subnet("$si", "10.0.0.1/32") && $sp == 5060) && '
        'is_present_hf("X-Listenin-Source"))) {\n        remove_hf("X-Listenin-Source");\n'
    )
    assert kept in text
    assert behind_front(config, 41001).admission.front_source == "127.0.0.1:41001"
    assert "is_present_hf" not in render_config(EXAMPLE)  # no upstream: always replaced


@needs_kamailio
@pytest.mark.parametrize("control", [None, "/run/listenin/ctl"])
def test_kamailio_accepts_a_cluster_front(control):
    empty = replace(CLUSTER, destinations=(), draining=())  # a nodes file may name none yet
    for config in (CLUSTER, empty):
        text = render_config(config, control=control)
        assert check_config(text, devices=render_destinations(config)) is None


def test_front_destinations_are_ip_port():
    with pytest.raises(ConfigError, match="IP:PORT"):
        cluster_config("127.0.0.1", 5060, ("10.0.0.5",))
    with pytest.raises(ConfigError, match="front destination 'node1:5070'"):
        cluster_config("127.0.0.1", 5060, ("node1:5070",))
    with pytest.raises(ConfigError, match="distinct"):
        cluster_config("127.0.0.1", 5060, ("10.0.0.5:5070", "10.0.0.5:5070"))
    with pytest.raises(ConfigError, match="distinct"):
        cluster_config("127.0.0.1", 5060, ("10.0.0.5:5070",), draining=("10.0.0.5:5070",))
    with pytest.raises(ConfigError, match="device ports"):
        FrontConfig("127.0.0.1", 5060, (), 40002)
    with pytest.raises(ConfigError, match="only a cluster front drains"):
        FrontConfig("127.0.0.1", 5060, ("127.0.0.1:40001",), 40002, draining=("10.0.0.5:5070",))


# -- a real 'listenin run' behind its front -------------------------------------------

FLOOD_RATE = 1000  # INVITEs per second
FLOOD_S = 1.5
FLOOD_SOURCES = 20  # 127.0.0.1 (trusted) .. 127.0.0.20


def flood(dest: tuple[str, int]) -> list[RawInvite]:
    """FLOOD_RATE one-stream INVITEs per second for FLOOD_S from FLOOD_SOURCES addresses."""
    sent, t0 = [], time.monotonic()
    for n in range(int(FLOOD_RATE * FLOOD_S)):
        time.sleep(max(0.0, t0 + n / FLOOD_RATE - time.monotonic()))
        sent.append(RawInvite(dest, f"127.0.0.{1 + n % FLOOD_SOURCES}").send(body=sdp()))
    return sent


def answers(invites: list[RawInvite]) -> Counter[tuple[int | None, str | None]]:
    """``(status, who answered)`` of each INVITE; answered calls are finished."""
    got: Counter[tuple[int | None, str | None]] = Counter()
    for inv in invites:
        status = inv.final(0.002)
        got[(status, answered_by(inv) if status else None)] += 1
        if status == 200:
            inv.ack()
            inv.bye()
        inv.close()
    return got


@needs_kamailio
def test_a_flood_leaves_listenin_run_alive_and_a_real_call_still_transcribes(tmp_path):
    port = free_udp_port()
    dest = ("127.0.0.1", port)
    # --require-id: the flood's offers (no session headers) are refused by the device once
    # PJSUA has opened their sockets, the churn that used to abort it; an un-ACKed 200
    # would hold one of PJSUA's four call slots for ~55 s (README, SIP front)
    dev = RunningDevice(port, tmp_path, "--front", "kamailio", "--require-id")
    try:
        wait_until_answering(dest, dev)
        many_lines = [RawInvite(dest).send(body=sdp(["audio"] * 16)) for _ in range(6)]
        assert set(answers(many_lines)) <= {(488, "front"), (None, None)}
        assert dev.alive(), dev.log()
        got = answers(flood(dest))
        assert dev.alive(), dev.log()
        assert got[(403, "front")] > 0  # the untrusted addresses never reached the device
        assert got[(403, "device")] > 0, got  # trusted: PJSUA opened sockets for these
        assert not {status for status, by in got if by == "device"} - {403, 486, 503}, got
        wait_until_answering(dest, dev)  # pike lets 127.0.0.1 through again
        text = place_call(port, dev)
        assert len(text.split()) >= 5, (text, dev.log())
    finally:
        dev.stop()


def children_of(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


@needs_kamailio
def test_listenin_run_stops_with_status_1_when_its_front_dies(tmp_path):
    port = free_udp_port()
    dev = RunningDevice(port, tmp_path, "--front", "kamailio")
    try:
        wait_until_answering(("127.0.0.1", port), dev)
        assert wait_for(lambda: " ready (" in dev.log(), 30), dev.log()  # the front started
        (front,) = [c for c in children_of(dev.proc.pid)
                    if Path(f"/proc/{c}/comm").read_text().strip() == "kamailio"]  # fmt: skip
        os.killpg(front, signal.SIGKILL)  # kamailio's own process group, as started
        assert dev.proc.wait(30) == 1, dev.log()
        assert "SIP front (kamailio) exited" in dev.log()
    finally:
        dev.stop()

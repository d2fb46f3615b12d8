"""The SIP front: the kamailio configuration that stands between the network and the device.

PJSUA opens RTP and RTCP sockets for every audio line of an INVITE before the
device is asked, and PJSIP's socket table (64 slots, a closed one reusable only
after 500 ms) aborts the process when a flood or a few many-stream offers fill
it.  Nothing inside pjsua can refuse early enough, so kamailio listens on the
public SIP address instead and forwards only what passed its rules to the
device, which moves to a loopback port only kamailio talks to.

With more calls than one pjsua2 process takes (4), several device processes
stand behind one front (:mod:`softphone.pool`): kamailio's dispatcher sends
each new INVITE to the next device in turn, moves on to the next one when a
device answers 486 (full) or not at all (a dead process: it is then marked
inactive until its OPTIONS probes are answered again), and holds each device
to its own INVITE budget.  The devices' own 486 is the load signal: the front
keeps no call state.

Sans-I/O: :func:`render_config` turns a :class:`FrontConfig` into the text of a
``kamailio.cfg`` and :func:`render_devices` into its dispatcher list;
:func:`front_config` and :func:`behind_front` derive the front's settings and
the device's from one :class:`~softphone.config.DeviceConfig`.
Starting and stopping kamailio is :mod:`softphone.kamailio`'s job.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace

from .addresses import split_source, uri_hostport
from .admission import SOURCE_HEADER
from .config import MAX_STREAMS, ConfigError, DeviceConfig

KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules"
DEVICE_HOST = "127.0.0.1"  # the device's SIP transport behind the front
DEVICES_LIST = "/etc/kamailio/listenin-devices.list"  # where an operator's kamailio reads it
MODULES = (
    "tm", "sl", "rr", "pv", "maxfwd", "textops", "siputils", "sanity", "pike", "ipops", "htable",
    "dispatcher", "nathelper",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class FrontConfig:
    """kamailio in front of the devices; ports are UDP unless named otherwise."""

    public_address: str  # an IP address: where peers send SIP (the device's --bind)
    udp_port: int  # the public SIP port (the device's --sip-port)
    device_ports: tuple[int, ...]  # each device process's own SIP port on 127.0.0.1
    internal_port: int  # kamailio's 127.0.0.1 port that talks to the device
    tcp_port: int | None = None  # also take SIP over TCP on the public address
    trusted: tuple[str, ...] = ("127.0.0.1",)  # IP, IP:port or CIDR: who may send INVITEs
    max_message_bytes: int = 3900  # longer requests get 513 (PJSIP cuts at 4000)
    max_media_lines: int = 8  # m= lines of any kind in one INVITE; more get 488
    max_audio_lines: int = 4  # m=audio lines in one INVITE; more get 488
    pike_window_s: int = 2  # pike's sampling time unit
    pike_requests: int = 30  # requests one source IP may send per window before it is blocked
    flood_reply: bool = False  # answer a blocked source 503 (else drop silently)
    # audio lines offered to one device per window (an INVITE costs 1, or max_audio_lines
    # when it has more than one); beyond, the next device or 503: each line's RTP and RTCP
    # sockets hold 2 of PJSIP's 64 slots until ~500 ms after the call ends
    lines_per_window: int = 6
    invite_window_ms: int = 250
    children: int = 2  # UDP worker processes
    modules_dir: str = KAMAILIO_MODULES

    def __post_init__(self) -> None:
        try:
            ipaddress.ip_address(self.public_address)
        except ValueError as err:
            raise ConfigError(
                f"the SIP front needs an IP address to listen on, got {self.public_address!r}"
            ) from err
        if not self.device_ports or len(set(self.device_ports)) != len(self.device_ports):
            raise ConfigError("the front needs one or more distinct device ports")
        ports = (self.udp_port, *self.device_ports, self.internal_port)
        if not all(0 < p <= 65535 for p in (*ports, self.tcp_port or 1)):
            raise ConfigError("front ports must be within 1..65535")
        if self.max_message_bytes < 1000 or self.children < 1:
            raise ConfigError("max_message_bytes must be >= 1000 and children >= 1")
        if self.lines_per_window < self.max_audio_lines:
            raise ConfigError("lines_per_window must be >= max_audio_lines")
        if not 1 <= self.max_audio_lines <= self.max_media_lines <= MAX_STREAMS:
            raise ConfigError(f"need 1 <= max_audio_lines <= max_media_lines <= {MAX_STREAMS}")
        if self.pike_window_s < 1 or self.pike_requests < 1 or self.lines_per_window < 1:
            raise ConfigError("pike_window_s, pike_requests, lines_per_window must be >= 1")
        if self.invite_window_ms not in (100, 125, 200, 250, 500, 1000):
            raise ConfigError(
                "invite_window_ms must divide a second: 100, 125, 200, 250, 500, 1000"
            )

    @property
    def public(self) -> str:
        """``ip:port`` of the public UDP socket, as a SIP URI host part."""
        return f"{_host(self.public_address)}:{self.udp_port}"

    @property
    def devices(self) -> tuple[str, ...]:
        """The devices' SIP URIs, in dispatch order."""
        return tuple(f"sip:{DEVICE_HOST}:{port}" for port in self.device_ports)

    @property
    def internal(self) -> str:
        """``ip:port`` kamailio sends to the device from (the device believes its header)."""
        return f"{DEVICE_HOST}:{self.internal_port}"


def _host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def trust_test(entry: str) -> str | None:
    """One trusted entry as a kamailio condition on the source; None for a host name."""
    if "/" in entry:
        return f'is_in_subnet("$si", "{ipaddress.ip_network(entry, strict=False)}")'
    host, port = split_source(entry)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None  # admission never matches a name either: sources are addresses
    test = f'is_in_subnet("$si", "{ip}/{ip.max_prefixlen}")'
    return f"({test} && $sp == {port})" if port is not None else test


def _trusted_route(trusted: tuple[str, ...]) -> str:
    tests = [t for t in map(trust_test, trusted) if t is not None]
    lines = [f"    if ({t}) {{ return 1; }}" for t in tests]
    return "\n".join(["route[TRUSTED] {", *lines, "    return -1;", "}"])


def render_devices(cfg: FrontConfig) -> str:
    """The dispatcher list: every device in set 1, probed and reached from the front's
    loopback socket."""
    rows = [f"1 {uri} 0 0 socket=udp:{cfg.internal};duid=device{n}"
            for n, uri in enumerate(cfg.devices)]  # fmt: skip
    return "\n".join(["# setid destination flags priority attrs", *rows, ""])


def _from_device(cfg: FrontConfig, host: str, port: str) -> str:
    ports = " || ".join(f"{port} == {p}" for p in cfg.device_ports)
    return f'{host} == "{DEVICE_HOST}" && ({ports})'


def render_config(cfg: FrontConfig, devices_list: str = DEVICES_LIST) -> str:
    """The whole ``kamailio.cfg`` for ``cfg`` (its dispatcher list read from
    ``devices_list``): the rules in order, then dispatch."""
    listen = [f"listen=udp:{cfg.public}", f"listen=udp:{cfg.internal}"]
    if cfg.tcp_port is not None:
        listen.append(f"listen=tcp:{_host(cfg.public_address)}:{cfg.tcp_port}")
    tcp = "" if cfg.tcp_port is not None else "disable_tcp=yes\n"
    flood = (
        'append_to_reply("Retry-After: 5\\r\\n"); sl_send_reply("503", "Flood"); '
        if cfg.flood_reply
        else ""
    )
    media, audio = cfg.max_media_lines + 1, cfg.max_audio_lines + 1
    per_s, window_us = 1000 // cfg.invite_window_ms, cfg.invite_window_ms * 1000
    return f"""#!KAMAILIO
# listenin SIP front (rendered by softphone/front.py)
# public {cfg.public}, devices {" ".join(cfg.devices)}
debug=-1
log_stderror=yes
children={cfg.children}
{tcp}auto_aliases=no
{chr(10).join(listen)}
mpath="{cfg.modules_dir}"
{chr(10).join(f'loadmodule "{m}.so"' for m in MODULES)}
modparam("pike", "sampling_time_unit", {cfg.pike_window_s})
modparam("pike", "reqs_density_per_unit", {cfg.pike_requests})
modparam("pike", "remove_latency", {2 * cfg.pike_window_s})
modparam("rr", "enable_double_rr", 1)
modparam("sanity", "autodrop", 1)
modparam("htable", "htable", "invites=>size=6;autoexpire=2;")
modparam("dispatcher", "list_file", "{devices_list}")
modparam("dispatcher", "ds_ping_interval", 1)
modparam("dispatcher", "ds_probing_mode", 1)
modparam("dispatcher", "ds_probing_threshold", 1)
modparam("dispatcher", "ds_inactive_threshold", 1)
modparam("dispatcher", "ds_ping_from", "sip:front@{DEVICE_HOST}")

request_route {{
    # the devices' own requests (their BYEs) go out along the dialog's route
    if ({_from_device(cfg, "$si", "$sp")}) {{ route(FROM_DEVICE); exit; }}
    # the rules, in order: nothing refused here reaches a device
    if (!sanity_check()) {{ exit; }}
    if (is_method("ACK") && $ml > {cfg.max_message_bytes}) {{ exit; }}
    if ($ml > {cfg.max_message_bytes}) {{ sl_send_reply("513", "Message Too Large"); exit; }}
    # an untrusted source IP over pike_requests per pike_window_s is blocked while it keeps
    # sending (a trusted platform sends every call from one address: the budget holds it)
    if (!route(TRUSTED) && !pike_check_req()) {{
        {flood}exit;
    }}
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (is_method("INVITE")) {{
        if (!route(TRUSTED)) {{ sl_send_reply("403", "Untrusted Source"); exit; }}
        if ($rb =~ "(\\nm=.*){{{media}}}") {{ sl_send_reply("488", "Too Many Media"); exit; }}
        if ($rb =~ "(\\nm=audio.*){{{audio}}}") {{ sl_send_reply("488", "Too Many Audio"); exit; }}
        if (!has_totag() && !has_body()) {{ sl_send_reply("488", "No SDP Offer"); exit; }}
    }}
    # forwarding: only to a device, never anywhere else
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (has_totag()) {{
        if (!loose_route() && is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
        # the device's Contact names the front when it registers: its alias names the device
        if ($ru =~ ";alias=") {{ handle_ruri_alias(); }}
        if (!({_from_device(cfg, "$nh(d)", "$nh(p)")})) {{
            sl_send_reply("404", "Not Here"); exit;
        }}
        route(TO_DEVICE);
    }}
    if (!is_method("INVITE|OPTIONS")) {{ sl_send_reply("405", "Method Not Allowed"); exit; }}
    if (uri != myself) {{ sl_send_reply("404", "Not Here"); exit; }}
    # a new call: the next device in turn that is alive and within its INVITE budget
    if (!ds_select_dst("1", "4")) {{
        append_to_reply("Retry-After: 5\\r\\n"); sl_send_reply("503", "No Device"); exit;
    }}
    if (is_method("INVITE")) {{
        if (!route(BUDGET)) {{
            append_to_reply("Retry-After: 1\\r\\n"); sl_send_reply("503", "Busy"); exit;
        }}
        record_route();
        t_on_failure("NEXT_DEVICE");
        t_set_fr(30000, 1500);
    }}
    route(TO_DEVICE);
}}

# each device's offers hold its PJSIP sockets for ~500 ms after they end: a device
# over its budget of audio lines in this window is skipped for the next one
route[BUDGET] {{
    $var(cost) = 1;
    if ($rb =~ "(\\nm=audio.*){{2}}") {{ $var(cost) = {cfg.max_audio_lines}; }}
    $var(window) = ($TV(s) mod 1000) * {per_s} + $TV(u) / {window_us};
    while (1) {{
        $var(key) = $du + "/" + $var(window);
        $var(i) = 0;
        while ($var(i) < $var(cost)) {{
            $var(n) = $shtinc(invites=>$var(key));
            if ($var(n) == 0) {{ $sht(invites=>$var(key)) = 1; $var(n) = 1; }}
            $var(i) = $var(i) + 1;
        }}
        if ($var(n) <= {cfg.lines_per_window}) {{ return 1; }}
        if (!ds_next_dst()) {{ return -1; }}
    }}
}}

route[TO_DEVICE] {{
    # a device believes this header only from this front's loopback socket
    remove_hf("{SOURCE_HEADER}");
    if (af == INET6) {{ append_hf("{SOURCE_HEADER}: [$si]:$sp\\r\\n"); }}
    else {{ append_hf("{SOURCE_HEADER}: $si:$sp\\r\\n"); }}
    force_send_socket(udp:{cfg.internal});
    if (!t_relay()) {{ sl_reply_error(); }}
    exit;
}}

# a device that is full (486) or silent (dead: marked inactive until it answers
# the dispatcher's OPTIONS again) hands the INVITE to the next one
failure_route[NEXT_DEVICE] {{
    if (t_is_canceled()) {{ exit; }}
    if (t_branch_timeout() || t_check_status("408")) {{ ds_mark_dst("ip"); }}
    else if (!t_check_status("486")) {{ exit; }}
    if (!ds_next_dst()) {{ exit; }}
    if (!route(BUDGET)) {{
        append_to_reply("Retry-After: 1\\r\\n"); t_reply("503", "Busy"); exit;
    }}
    t_on_failure("NEXT_DEVICE");
    t_set_fr(30000, 1500);
    force_send_socket(udp:{cfg.internal});
    t_relay();
}}

onreply_route {{
    if (is_method("INVITE") && ({_from_device(cfg, "$si", "$sp")})) {{
        add_contact_alias();
    }}
}}

route[FROM_DEVICE] {{
    if (has_totag() && loose_route()) {{ t_relay(); exit; }}
    sl_send_reply("404", "Not Here");
}}

{_trusted_route(cfg.trusted)}
"""


def front_config(
    config: DeviceConfig, device_ports: tuple[int, ...], internal_port: int, **rules: int | bool
) -> FrontConfig:
    """The front for devices set up as ``config`` (its public address, ports and trust)."""
    a, t = config.account, config.transport
    trusted = config.admission.trusted
    if config.admission.trust_registrar:
        trusted += tuple(uri_hostport(uri) for uri in (a.registrar, a.proxy) if uri)
    return FrontConfig(
        t.bind_address, t.udp_port or 0, device_ports, internal_port, t.tcp_port, trusted,
        max_audio_lines=config.admission.max_streams, **rules,  # type: ignore[arg-type]
    )  # fmt: skip


def behind_front(config: DeviceConfig, internal_port: int) -> DeviceConfig:
    """The device's config behind a front on ``config``'s public address: SIP on a free
    loopback port, RTP still on the public address, the header of the front's
    ``internal_port`` believed, and (when registering) the front advertised as Contact."""
    t = config.transport
    transport = replace(
        t, bind_address=DEVICE_HOST, udp_port=0, tcp_port=None, tls_port=None,
        rtp_address=t.rtp_address or t.bind_address,
    )  # fmt: skip
    account = config.account
    if account.registrar:
        account = replace(
            account, contact=f"sip:{account.user}@{_host(t.bind_address)}:{t.udp_port}"
        )
    admission = replace(config.admission, front_source=f"{DEVICE_HOST}:{internal_port}")
    return replace(config, transport=transport, account=account, admission=admission)

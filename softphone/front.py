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

A cluster front (``listenin front``) puts the same rules before nodes, each a
``listenin run`` whose own front trusts it and keeps its source header
(:attr:`FrontConfig.upstream`); it moves on on 486, 503 or silence, answers
OPTIONS to itself, and drains the nodes taken off its list.

Sans-I/O: :func:`render_config` and :func:`render_destinations` turn a
:class:`FrontConfig` (from :func:`front_config`, :func:`behind_front` or
:func:`cluster_config`) into ``kamailio.cfg`` and its dispatcher list; running
kamailio is :mod:`softphone.kamailio`'s job.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace

from .addresses import hostport, split_source, uri_hostport
from .admission import SOURCE_HEADER
from .config import MAX_STREAMS, ConfigError, DeviceConfig
from .identify import HeaderNames

KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules"
DEVICE_HOST = "127.0.0.1"  # the device's SIP transport behind the front
DEVICES_LIST = "/etc/kamailio/listenin-devices.list"  # where an operator's kamailio reads it
MAX_MESSAGE_BYTES = 3900  # longer requests get 513 (PJSIP cuts at 4000)
# a cluster front leaves room for what it adds (Via, Record-Route, source header) before
# the node's own front measures the request against MAX_MESSAGE_BYTES
CLUSTER_MESSAGE_BYTES = MAX_MESSAGE_BYTES - 300
MODULES = (
    "tm", "sl", "rr", "pv", "maxfwd", "textops", "siputils", "sanity", "pike", "ipops", "htable",
    "dispatcher", "nathelper",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class FrontConfig:
    """kamailio in front of the devices (or nodes); ports are UDP unless named otherwise."""

    public_address: str  # an IP address: where peers send SIP (the device's --bind)
    udp_port: int  # the public SIP port (the device's --sip-port)
    # "ip:port" of each destination, in dispatch order: the device processes on 127.0.0.1,
    # or (internal_port None) the nodes' public SIP addresses
    destinations: tuple[str, ...]
    internal_port: int | None  # kamailio's 127.0.0.1 port to the devices; None: a cluster front
    tcp_port: int | None = None  # also take SIP over TCP on the public address
    trusted: tuple[str, ...] = ("127.0.0.1",)  # IP, IP:port or CIDR: who may send INVITEs
    upstream: str | None = None  # "ip:port" of a cluster front: trusted, its source header kept
    draining: tuple[str, ...] = ()  # "ip:port" of nodes off the list: no new calls, dialogs kept
    max_message_bytes: int = MAX_MESSAGE_BYTES  # longer requests get 513
    max_media_lines: int = 8  # m= lines of any kind in one INVITE; more get 488
    max_audio_lines: int = 4  # m=audio lines in one INVITE; more get 488
    pike_window_s: int = 2  # pike's sampling time unit
    pike_requests: int = 30  # requests one source IP may send per window before it is blocked
    flood_reply: bool = False  # answer a blocked source 503 (else drop silently)
    # audio lines offered to one device per window (an INVITE costs 1, or max_audio_lines
    # when it has more than one); beyond, the next device or 503: each line's RTP and RTCP
    # sockets hold 2 of PJSIP's 64 slots until ~500 ms after the call ends
    lines_per_window: int = 4
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
        listed = self.destinations + self.draining
        for entry in listed + ((self.upstream,) if self.upstream else ()):
            try:
                hostport(entry)
            except ValueError as err:
                raise ConfigError(f"front destination {entry!r}: {err}") from err
        if len(set(listed)) != len(listed) or not (self.destinations or self.cluster):
            raise ConfigError("the front needs one or more distinct device ports")
        if self.draining and not self.cluster:
            raise ConfigError("only a cluster front drains nodes")
        ports = (self.udp_port, self.internal_port or 1, self.tcp_port or 1)
        if not all(0 < p <= 65535 for p in ports):
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
    def cluster(self) -> bool:
        """Whether the destinations are nodes (``listenin front``), not device processes."""
        return self.internal_port is None

    @property
    def public(self) -> str:
        """``ip:port`` of the public UDP socket, as a SIP URI host part."""
        return f"{_host(self.public_address)}:{self.udp_port}"

    @property
    def uris(self) -> tuple[str, ...]:
        """The destinations' SIP URIs, in dispatch order."""
        return tuple(f"sip:{d}" for d in self.destinations)

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


def render_destinations(cfg: FrontConfig) -> str:
    """The dispatcher list: every destination in set 1, draining nodes in set 2; devices
    are probed and reached from the front's loopback socket, nodes from the public one."""
    attrs = "" if cfg.cluster else f"socket=udp:{cfg.internal};"
    kind = "node" if cfg.cluster else "device"
    rows = [f"1 {uri} 0 0 {attrs}duid={kind}{n}" for n, uri in enumerate(cfg.uris)]
    rows += [f"2 sip:{node} 0 0 duid=draining{n}" for n, node in enumerate(cfg.draining)]
    return "\n".join(["# setid destination flags priority attrs", *rows, ""])


def _header(cfg: FrontConfig) -> str:
    """Set the source header to the peer, unless the upstream front sent it (the original)."""
    lines = [
        f'remove_hf("{SOURCE_HEADER}");',
        f'if (af == INET6) {{ append_hf("{SOURCE_HEADER}: [$si]:$sp\\r\\n"); }}',
        f'else {{ append_hf("{SOURCE_HEADER}: $si:$sp\\r\\n"); }}',
    ]
    if cfg.upstream is None:
        return "\n    ".join(lines)
    keep = f'{trust_test(cfg.upstream)} && is_present_hf("{SOURCE_HEADER}")'
    return "\n    ".join([
        f"# the upstream front {cfg.upstream} sends the original peer's: kept",
        f"if (!({keep})) {{", *(f"    {line}" for line in lines), "}",
    ])  # fmt: skip


def render_config(
    cfg: FrontConfig, devices_list: str = DEVICES_LIST, control: str | None = None
) -> str:
    """The whole ``kamailio.cfg`` for ``cfg`` (its dispatcher list read from
    ``devices_list``; the ``ctl`` module on the unix socket ``control``, when given, for
    ``kamcmd dispatcher.reload``): the rules in order, then dispatch."""
    node = cfg.cluster
    kind, to = ("node", "NODE") if node else ("device", "DEVICE")
    listen = [f"listen=udp:{cfg.public}"] + ([] if node else [f"listen=udp:{cfg.internal}"])
    if cfg.tcp_port is not None:
        listen.append(f"listen=tcp:{_host(cfg.public_address)}:{cfg.tcp_port}")
    tcp = "" if cfg.tcp_port is not None else "disable_tcp=yes\n"
    modules = MODULES + (("ctl",) if control else ())
    ctl = f'modparam("ctl", "binrpc", "unix:{control}")\n' if control else ""
    flood = (
        'append_to_reply("Retry-After: 5\\r\\n"); sl_send_reply("503", "Flood"); '
        if cfg.flood_reply
        else ""
    )
    media, audio = cfg.max_media_lines + 1, cfg.max_audio_lines + 1
    per_s, window_us = 1000 // cfg.invite_window_ms, cfg.invite_window_ms * 1000
    send = "" if node else f"\n    force_send_socket(udp:{cfg.internal});"
    pinger = _host(cfg.public_address) if node else DEVICE_HOST
    ds = ('"hash_pvar", "$var(call)"', '"reload_delta", 1') if node else ()  # reload: 1/s
    hashing = "".join(f'modparam("dispatcher", {param})\n' for param in ds)
    ack = "if (t_check_trans()) { t_relay(); } exit;"
    socket, full = ("address", "busy (486, 503)") if node else ("loopback socket", "full (486)")
    group = '"-1"' if node else '"1"'  # a cluster front knows its draining nodes (set 2) too
    if node:  # a node's 503 (no device, ASR behind) is worth the next node too
        select, nxt, failover = "ds_select_domain", "ds_next_domain", '"486|503"'
        alias, onreply = "", ""
        up = 'if (is_method("OPTIONS") && $rU == $null) { sl_send_reply("200", "Up"); exit; }'
        keepalive = f"\n    # OPTIONS to the front itself (no user): it is up\n    {up}"
    else:
        select, nxt, failover, keepalive = "ds_select_dst", "ds_next_dst", '"486"', ""
        alias = """
        # the device's Contact names the front when it registers: its alias names the device
        if ($ru =~ ";alias=") { handle_ruri_alias(); }"""
        onreply = """
onreply_route {
    if (is_method("INVITE") && ds_is_from_list("1", "2")) { add_contact_alias(); }
}
"""
    return f"""#!KAMAILIO
# listenin SIP front (rendered by softphone/front.py)
# public {cfg.public}, {kind}s {" ".join(cfg.uris)}
debug=-1
log_stderror=yes
children={cfg.children}
{tcp}auto_aliases=no
{chr(10).join(listen)}
mpath="{cfg.modules_dir}"
{chr(10).join(f'loadmodule "{m}.so"' for m in modules)}
{ctl}modparam("pike", "sampling_time_unit", {cfg.pike_window_s})
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
modparam("dispatcher", "ds_ping_from", "sip:front@{pinger}")
{hashing}
request_route {{
    # the {kind}s' own requests (their BYEs) go out along the dialog's route
    if (ds_is_from_list({group}, "2")) {{ route(FROM_{to}); exit; }}
    # the rules, in order: nothing refused here reaches a {kind}
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
    # forwarding: only to a {kind}, never anywhere else
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (has_totag()) {{
        if (!loose_route() && is_method("ACK")) {{ {ack} }}{alias}
        if (!ds_is_from_list({group}, "2", "$nh(u)")) {{ sl_send_reply("404", "Not Here"); exit; }}
        route(TO_{to});
    }}
    if (!is_method("INVITE|OPTIONS")) {{ sl_send_reply("405", "Method Not Allowed"); exit; }}
    if (uri != myself) {{ sl_send_reply("404", "Not Here"); exit; }}{keepalive}
    # a new call: {_pick(node)}
    if (!{select}("1", "{7 if node else 4}")) {{
        append_to_reply("Retry-After: 5\\r\\n"); sl_send_reply("503", "No {kind.title()}"); exit;
    }}
    if (is_method("INVITE")) {{{"" if node else _over_budget("        ", "sl_send_reply")}
        record_route();
        t_on_failure("NEXT_{to}");
        t_set_fr(30000, 1500);
    }}
    route(TO_{to});
}}
{"" if node else _budget_route(cfg, per_s, window_us)}
route[TO_{to}] {{
    # a {kind} believes this header only from this front's {socket}
    {_header(cfg)}{send}
    if (!t_relay()) {{ sl_reply_error(); }}
    exit;
}}

# a {kind} that is {full} or silent (dead: marked inactive until it answers
# the dispatcher's OPTIONS again) hands the INVITE to the next one
failure_route[NEXT_{to}] {{
    if (t_is_canceled()) {{ exit; }}
    if (t_branch_timeout() || t_check_status("408")) {{ ds_mark_dst("ip"); }}
    else if (!t_check_status({failover})) {{ exit; }}
    if (!{nxt}()) {{ exit; }}{"" if node else _over_budget("    ", "t_reply")}
    t_on_failure("NEXT_{to}");
    t_set_fr(30000, 1500);{send}
    t_relay();
}}
{onreply}
route[FROM_{to}] {{
    if (has_totag() && loose_route()) {{ t_relay(); exit; }}
    sl_send_reply("404", "Not Here");
}}

{_trusted_route(cfg.trusted)}
"""


def _pick(node: bool) -> str:
    if not node:
        return "the next device in turn that is alive and within its INVITE budget"
    rc, ours = "p-rc-api-monitoring-ids", HeaderNames().session
    return f"""the node its supervised call hashes to, else the next one alive (the
    # legs of one call, one per party, meet on one node: one transcript, one archive)
    $var(call) = $ci;
    if (is_present_hf("{rc}")) {{ $var(call) = $(hdr({rc}){{param.value,session-id}}); }}
    else if (is_present_hf("{ours}")) {{ $var(call) = $hdr({ours}); }}"""


def _over_budget(indent: str, reply: str) -> str:
    """Go on with the next device when this one is over its budget, else 503."""
    busy = f'append_to_reply("Retry-After: 1\\r\\n"); {reply}("503", "Busy"); exit;'
    return f"\n{indent}if (!route(BUDGET)) {{\n{indent}    {busy}\n{indent}}}"


def _budget_route(cfg: FrontConfig, per_s: int, window_us: int) -> str:
    return f"""
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
"""


def front_config(
    config: DeviceConfig, device_ports: tuple[int, ...], internal_port: int, **rules: int | bool
) -> FrontConfig:
    """The front for devices set up as ``config`` (its public address, ports and trust;
    its ``front_source``, a cluster front, is trusted and its source header kept)."""
    a, t = config.account, config.transport
    trusted = config.admission.trusted
    if config.admission.trust_registrar:
        trusted += tuple(uri_hostport(uri) for uri in (a.registrar, a.proxy) if uri)
    upstream = config.admission.front_source
    if upstream is not None:
        trusted += (upstream,)
    devices = tuple(f"{DEVICE_HOST}:{port}" for port in device_ports)
    return FrontConfig(
        t.bind_address, t.udp_port or 0, devices, internal_port, t.tcp_port, trusted,
        upstream, max_audio_lines=config.admission.max_streams, **rules,  # type: ignore[arg-type]
    )  # fmt: skip


def cluster_config(
    public_address: str, udp_port: int, nodes: tuple[str, ...], **settings: object
) -> FrontConfig:
    """A cluster front (``listenin front``) on ``public_address:udp_port`` dispatching to
    ``nodes`` (their public ``ip:port``), with room left for what it adds to a request."""
    settings.setdefault("max_message_bytes", CLUSTER_MESSAGE_BYTES)
    return FrontConfig(public_address, udp_port, nodes, None, **settings)  # type: ignore[arg-type]


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

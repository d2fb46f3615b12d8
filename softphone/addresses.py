"""Network addresses as the device's settings and SIP messages spell them.

Pure string and :mod:`ipaddress` work, shared by the settings that name trusted
callers (:func:`check_trusted`, at start) and the admission that matches an
INVITE's source against them (:func:`is_trusted`), so the two can never read an
entry differently.
"""

from __future__ import annotations

import ipaddress


def split_source(source: str) -> tuple[str, int | None]:
    """``"127.0.0.1:5060"`` / ``"[::1]:5060"`` / ``"host"`` -> (host, port)."""
    if source.startswith("["):
        host, _, rest = source[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    host, sep, port = source.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, int(port)
    return source, None


def uri_hostport(uri: str) -> str:
    """``sip:user@10.0.0.1:5060;lr`` -> ``10.0.0.1:5060``; without a port just the host."""
    rest = uri.split(":", 1)[1] if uri.startswith(("sip:", "sips:")) else uri
    rest = rest.split("@", 1)[-1].split(";", 1)[0].split(">", 1)[0]
    return rest


def is_trusted(source: str, trusted: tuple[str, ...]) -> bool:
    host, port = split_source(source)
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    for entry in trusted:
        if "/" in entry:
            try:
                if addr in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
            continue
        t_host, t_port = split_source(entry)
        if t_host == host and (t_port is None or t_port == port):
            return True
    return False


def check_trusted(entry: str) -> None:
    """Raise ValueError unless ``entry`` can match a source: an IP address,
    ``ip:port``, ``[v6]:port`` or a CIDR network."""
    if "/" in entry:
        ipaddress.ip_network(entry, strict=False)
        return
    host, port = split_source(entry)
    ipaddress.ip_address(host)
    if port is None and entry not in (host, f"[{host}]"):
        raise ValueError(f"malformed port in {entry!r}")
    if port is not None and not 0 < port <= 65535:
        raise ValueError(f"port {port} out of range")


def hostport(entry: str) -> str:
    """``"10.0.0.5:5070"`` / ``"[::1]:5070"`` spelled as a SIP URI's host part; ValueError
    unless ``entry`` is an IP address with a port."""
    host, port = split_source(entry)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is None or port is None or not 0 < port <= 65535:
        raise ValueError(f"{entry!r} must be IP:PORT ([IPv6]:PORT)")
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"

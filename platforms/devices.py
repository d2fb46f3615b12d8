"""Finding RingCentral's supervisor device: the configured one, and it must be Online.

``GET /restapi/v1.0/account/~/extension/{supervisorExtensionId}/device`` lists
the supervisor extension's devices (``id``, ``name``, ``status``,
``extension.id``); listenin's SIP registration is one of them.  The app's and
WebRTC phones' ids are dynamic, so a configured ``device_id`` (or
``device_name``) is required, and the device must be ``Online``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import DeviceUnavailable, MalformedResponse

NAME = "ringcentral"


@dataclass(frozen=True, slots=True)
class SupervisorDevice:
    id: str
    name: str
    status: str
    extension_id: str


def pick_device(records: Any, device_id: str, device_name: str) -> SupervisorDevice:
    """The configured device among ``GET .../device`` records; it must be Online."""
    if not isinstance(records, list):
        raise MalformedResponse(NAME, "device list without records")
    devices = []
    for r in records:
        if isinstance(r, dict) and "id" in r:
            ext = r["extension"] if isinstance(r.get("extension"), dict) else {}
            devices.append(
                SupervisorDevice(
                    str(r["id"]),
                    str(r.get("name", "")),
                    str(r.get("status", "")),
                    str(ext.get("id", "")),
                )
            )
    if not device_id and not device_name:
        raise DeviceUnavailable(
            NAME,
            "set device_id or device_name: which device supervises "
            "(devices: " + _listing(devices) + ")",
        )
    found = [
        d
        for d in devices
        if (device_id and d.id == device_id) or (not device_id and d.name == device_name)
    ]
    wanted = device_id or repr(device_name)
    if not found:
        raise DeviceUnavailable(
            NAME, f"no device {wanted} on the supervisor extension (devices: {_listing(devices)})"
        )
    dev = found[0]
    if dev.status != "Online":
        raise DeviceUnavailable(
            NAME,
            f"device {dev.id} {dev.name!r} is {dev.status or 'not Online'}"
            "; it must be Online to supervise (is listenin registered?)",
        )
    return dev


def _listing(devices: list[SupervisorDevice]) -> str:
    return ", ".join(f"{d.id} {d.name!r} {d.status}" for d in devices) or "none"

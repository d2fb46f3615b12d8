"""RingCentral Call Monitoring Groups: who may be monitored, and who may monitor.

``/restapi/v1.0/account/~/call-monitoring-groups``: list (GET), create (POST
``{"name"}``), rename (PUT ``.../{groupId}``), delete (DELETE ``.../{groupId}``),
members (GET ``.../{groupId}/members``, each with ``permissions`` of
``Monitoring`` (a supervisor) and/or ``Monitored`` (an agent)) and bulk-assign
(POST ``.../{groupId}/bulk-assign`` with ``addedExtensions``,
``updatedExtensions``, ``removedExtensions``).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import MalformedResponse, NotFound
from .http import Auth, HttpClient

GROUPS = "/restapi/v1.0/account/~/call-monitoring-groups"
PERMISSIONS = ("Monitoring", "Monitored")
MAX_PAGES = 100


@dataclass(frozen=True, slots=True)
class MonitoringGroup:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class GroupMember:
    extension_id: str
    extension_number: str
    permissions: tuple[str, ...]  # Monitoring (supervisor), Monitored (agent)


@dataclass(frozen=True, slots=True)
class Assignment:
    """One extension in a bulk-assign request."""

    extension_id: str
    permissions: tuple[str, ...]

    def __post_init__(self) -> None:
        bad = [p for p in self.permissions if p not in PERMISSIONS]
        if bad or not self.permissions:
            raise ValueError(
                f"permissions must be a non-empty subset of {PERMISSIONS}, got {self.permissions}"
            )

    def body(self) -> dict[str, Any]:
        return {"id": self.extension_id, "permissions": list(self.permissions)}


class MonitoringGroups:
    def __init__(self, http: HttpClient, auth: Auth) -> None:
        self.http = http
        self.auth = auth

    def _records(self, path: str) -> builtins.list[dict[str, Any]]:
        out: builtins.list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            body = self.http.request(
                "GET", path, query={"page": str(page), "perPage": "1000"}, auth=self.auth
            ).json()
            records = body.get("records") if isinstance(body, dict) else None
            if not isinstance(records, list):
                raise MalformedResponse(self.http.platform, f"GET {path}: no records list")
            out.extend(r for r in records if isinstance(r, dict))
            paging = body.get("paging") if isinstance(body.get("paging"), dict) else {}
            total = paging.get("totalPages")
            if not isinstance(total, int) or page >= total:
                break
        return out

    def list(self) -> builtins.list[MonitoringGroup]:
        return [_group(r, self.http.platform) for r in self._records(GROUPS)]

    def create(self, name: str) -> MonitoringGroup:
        body = self.http.request("POST", GROUPS, json_body={"name": name}, auth=self.auth).json()
        return _group(body, self.http.platform)

    def rename(self, group_id: str, name: str) -> MonitoringGroup:
        body = self.http.request(
            "PUT", f"{GROUPS}/{group_id}", json_body={"name": name}, auth=self.auth
        ).json()
        return _group(body, self.http.platform)

    def delete(self, group_id: str) -> None:
        self.http.request("DELETE", f"{GROUPS}/{group_id}", auth=self.auth)

    def members(self, group_id: str) -> builtins.list[GroupMember]:
        out = []
        for r in self._records(f"{GROUPS}/{group_id}/members"):
            perms = r.get("permissions")
            if "id" not in r or not isinstance(perms, list):
                raise MalformedResponse(
                    self.http.platform, f"group {group_id}: a member without id or permissions"
                )
            out.append(
                GroupMember(
                    str(r["id"]), str(r.get("extensionNumber", "")), tuple(str(p) for p in perms)
                )
            )
        return out

    def assign(
        self,
        group_id: str,
        added: Iterable[Assignment] = (),
        updated: Iterable[Assignment] = (),
        removed: Iterable[str] = (),
    ) -> None:
        body: dict[str, Any] = {}
        for key, items in (
            ("addedExtensions", [a.body() for a in added]),
            ("updatedExtensions", [a.body() for a in updated]),
            ("removedExtensions", [{"id": r} for r in removed]),
        ):
            if items:
                body[key] = items
        if not body:
            raise ValueError("bulk-assign needs at least one extension to add, update or remove")
        self.http.request(
            "POST", f"{GROUPS}/{group_id}/bulk-assign", json_body=body, auth=self.auth
        )

    def resolve(self, id_or_name: str) -> MonitoringGroup:
        """A group by id or by exact name."""
        groups = self.list()
        for g in groups:
            if id_or_name in (g.id, g.name):
                return g
        names = ", ".join(f"{g.id} {g.name!r}" for g in groups) or "none"
        raise NotFound(
            self.http.platform, f"no call monitoring group {id_or_name!r} (groups: {names})"
        )

    def monitored(self, groups: Iterable[str] = ()) -> set[str]:
        """Extension ids with the Monitored permission in these groups (all groups if none)."""
        wanted = list(groups)
        chosen = [self.resolve(g) for g in wanted] if wanted else self.list()
        agents: set[str] = set()
        for g in chosen:
            agents.update(
                m.extension_id for m in self.members(g.id) if "Monitored" in m.permissions
            )
        return agents


def _group(r: Any, platform: str) -> MonitoringGroup:
    if not isinstance(r, dict) or "id" not in r:
        raise MalformedResponse(platform, "a call monitoring group without an id")
    return MonitoringGroup(str(r["id"]), str(r.get("name", "")))

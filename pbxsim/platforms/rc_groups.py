"""The fake RingCentral's call monitoring groups, and RingCentral's response shapes.

``/restapi/v1.0/account/~/call-monitoring-groups``: list, create (``{"name"}``),
rename (PUT), delete, ``/members`` (``permissions``: Monitoring / Monitored) and
``/bulk-assign`` (``addedExtensions``, ``updatedExtensions``,
``removedExtensions``), with RingCentral's paged lists and error bodies
(``errorCode``, ``message``, ``errors``).  Mixed into
:class:`~pbxsim.platforms.ringcentral.FakeRingCentral`, whose ``extensions``,
``account_id``, ``supervisor`` and ``route`` it uses.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from typing import Any

from .server import Reply, Request

V1 = "/restapi/v1.0"
ACCT = V1 + r"/account/~"
GROUPS = ACCT + "/call-monitoring-groups"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def rc_error(status: int, code: str, message: str, **extra: str) -> Reply:
    return Reply(
        status,
        {
            "errorCode": code,
            "message": message,
            "errors": [{"errorCode": code, "message": message, **extra}],
        },
    )


def paged(uri: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(records)
    return {
        "uri": uri,
        "records": records,
        "paging": {
            "page": 1,
            "totalPages": 1,
            "perPage": 1000,
            "totalElements": n,
            "pageStart": 0,
            "pageEnd": max(0, n - 1),
        },
        "navigation": {"firstPage": {"uri": uri}, "lastPage": {"uri": uri}},
    }


class MonitoringGroupsFake:
    groups: dict[str, dict[str, Any]]
    extensions: dict[str, str]
    account_id: str
    supervisor: str
    route: Any
    _ids: itertools.count[int]

    def group_routes(self) -> None:
        r = self.route
        r("GET", GROUPS, self._groups_list)
        r("POST", GROUPS, self._group_create)
        r("PUT", GROUPS + r"/(?P<gid>[^/]+)", self._group_rename)
        r("DELETE", GROUPS + r"/(?P<gid>[^/]+)", self._group_delete)
        r("GET", GROUPS + r"/(?P<gid>[^/]+)/members", self._group_members)
        r("POST", GROUPS + r"/(?P<gid>[^/]+)/bulk-assign", self._bulk_assign)

    def add_group(self, name: str, supervisors: list[str], agents: list[str]) -> str:
        gid = str(next(self._ids) + 7000)
        members = {s: ["Monitoring"] for s in supervisors}
        for a in agents:
            members.setdefault(a, []).append("Monitored")
        self.groups[gid] = {"id": gid, "name": name, "members": members}
        return gid

    def _group_json(self, g: dict[str, Any]) -> dict[str, Any]:
        return {
            "uri": f"{V1}/account/{self.account_id}/call-monitoring-groups/{g['id']}",
            "id": g["id"],
            "name": g["name"],
        }

    def _groups_list(self, req: Request, m: re.Match[str]) -> Reply:
        return Reply(200, paged(req.path, [self._group_json(g) for g in self.groups.values()]))

    def _group_create(self, req: Request, m: re.Match[str]) -> Reply:
        body = req.json()
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
            return rc_error(400, "CMN-101", "Parameter [name] value is invalid")
        gid = str(next(self._ids) + 7000)
        self.groups[gid] = {"id": gid, "name": body["name"], "members": {}}
        return Reply(200, self._group_json(self.groups[gid]))

    def _group(self, m: re.Match[str]) -> dict[str, Any] | None:
        return self.groups.get(m["gid"])

    def _no_group(self, m: re.Match[str]) -> Reply:
        return rc_error(
            404, "CMN-102", f"Resource for parameter [groupId] is not found: {m['gid']}"
        )

    def _group_rename(self, req: Request, m: re.Match[str]) -> Reply:
        g, body = self._group(m), req.json()
        if g is None:
            return self._no_group(m)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
            return rc_error(400, "CMN-101", "Parameter [name] value is invalid")
        g["name"] = body["name"]
        return Reply(200, self._group_json(g))

    def _group_delete(self, req: Request, m: re.Match[str]) -> Reply:
        if self.groups.pop(m["gid"], None) is None:
            return self._no_group(m)
        return Reply(204)

    def _group_members(self, req: Request, m: re.Match[str]) -> Reply:
        g = self._group(m)
        if g is None:
            return self._no_group(m)
        records = [
            {
                "uri": f"{V1}/account/{self.account_id}/extension/{ext}",
                "id": ext,
                "extensionNumber": self.extensions.get(ext, ""),
                "permissions": perms,
            }
            for ext, perms in g["members"].items()
        ]
        return Reply(200, paged(req.path, records))

    def _bulk_assign(self, req: Request, m: re.Match[str]) -> Reply:
        g, body = self._group(m), req.json()
        if g is None:
            return self._no_group(m)
        if not isinstance(body, dict):
            return rc_error(400, "CMN-101", "Request body is invalid")
        for key in ("addedExtensions", "updatedExtensions"):
            for item in body.get(key, []):
                perms = item.get("permissions") if isinstance(item, dict) else None
                if not isinstance(perms, list) or not set(perms) <= {"Monitoring", "Monitored"}:
                    return rc_error(
                        400, "CMN-101", f"Parameter [{key}.permissions] value is invalid"
                    )
                if str(item.get("id")) not in self.extensions:
                    return rc_error(400, "CMN-101", f"Extension [{item.get('id')}] is not found")
                g["members"][str(item["id"])] = list(perms)
        for item in body.get("removedExtensions", []):
            g["members"].pop(str(item.get("id")) if isinstance(item, dict) else "", None)
        return Reply(204)

    def _may_monitor(self, agent: str) -> bool:
        return any(
            "Monitoring" in g["members"].get(self.supervisor, [])
            and "Monitored" in g["members"].get(agent, [])
            for g in self.groups.values()
        )

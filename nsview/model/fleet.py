"""A fleet: one snapshot per host, each with how its collection went.

FLEET.json (docs/fleet.md) is a public contract like the snapshot's: fields may
be added; a rename or removal bumps FLEET_VERSION.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nsview.model.core import Snapshot

FLEET_VERSION = 1

OK, FAILED = "ok", "failed"


@dataclass(slots=True)
class HostIdentity:
    """Who a host is, as it said itself: names can repeat, machine ids should not."""

    hostname: str = ""
    machine_id: str = ""  # /etc/machine-id
    boot_id: str = ""  # /proc/sys/kernel/random/boot_id


@dataclass(slots=True)
class FleetHost:
    target: str  # as the user gave it: "ssh://root@node-1", "k8s://prod/node-1", an alias
    status: str = FAILED  # "ok" | "failed"
    error: str | None = None  # one line: why there is no snapshot
    identity: HostIdentity = field(default_factory=HostIdentity)
    seconds: float | None = None  # how long the collection took, end to end
    snapshot: Snapshot | None = None


@dataclass(slots=True)
class Fleet:
    fleet_version: int = FLEET_VERSION
    collected_at: str = ""  # ISO 8601, UTC: when the collection started
    hosts: list[FleetHost] = field(default_factory=list)

    def ok_hosts(self) -> list[FleetHost]:
        return [h for h in self.hosts if h.status == OK and h.snapshot is not None]


def fleet_to_json(fleet: Fleet, *, indent: int | None = 2) -> str:
    import json

    from nsview.model.serial import paused_gc, to_dict

    with paused_gc():
        tree = to_dict(fleet)
    return json.dumps(tree, indent=indent, ensure_ascii=False, check_circular=False)


def fleet_from_dict(data: dict) -> Fleet:
    """A Fleet from parsed JSON; ValueError (one line) when it is not one this reads."""
    from nsview.model.core import SCHEMA_VERSION
    from nsview.model.serial import from_dict

    version = data.get("fleet_version")
    if version != FLEET_VERSION:
        raise ValueError(f"fleet_version {version!r}; this nsview reads {FLEET_VERSION}")
    for host in data.get("hosts") or []:
        snap = host.get("snapshot") if isinstance(host, dict) else None
        if isinstance(snap, dict) and snap.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(
                f"host {host.get('target')!r}: snapshot schema_version "
                f"{snap.get('schema_version')!r}; this nsview reads {SCHEMA_VERSION}"
            )
    try:
        return from_dict(Fleet, data)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise ValueError(f"malformed fleet file: {exc}") from None

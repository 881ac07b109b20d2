"""Plain dataclasses for everything nsview shows, and their JSON form.

The JSON form is a public contract (docs/schema.md): fields may be added; a
rename or removal bumps SCHEMA_VERSION.
"""

from __future__ import annotations

import json

from nsview.kernel.nstypes import HIERARCHICAL_TYPES, NS_TYPES
from nsview.model.core import (
    SCHEMA_VERSION,
    Diagnostic,
    Holder,
    Host,
    Namespace,
    Process,
    Snapshot,
    parse_ns_types,
)
from nsview.model.serial import from_dict, paused_gc, to_dict

# The network model loads on first use (module __getattr__ below), which keeps
# `nsview dump --no-net` from paying for it.
_NET_NAMES = frozenset(
    {
        "Address",
        "BridgeInfo",
        "ConntrackEntry",
        "ConntrackTable",
        "ConntrackTuple",
        "Rule",
        "RuleChain",
        "RuleMatch",
        "RuleTable",
        "Socket",
        "SocketSummary",
        "VerdictMap",
        "FdbEntry",
        "Interface",
        "LowerLinkInfo",
        "NatChain",
        "NatRule",
        "NatTable",
        "NetState",
        "PeerRef",
        "Route",
        "RoutingRule",
        "VlanInfo",
        "VxlanInfo",
    }
)


_CONTAINER_NAMES = frozenset(
    {"Container", "ContainerNetwork", "EngineNetwork", "PodRef", "PortMapping"}
)


def __getattr__(name: str):
    if name in _NET_NAMES:
        from nsview.model import net

        return getattr(net, name)
    if name in _CONTAINER_NAMES:
        from nsview.model import containers

        return getattr(containers, name)
    raise AttributeError(f"module 'nsview.model' has no attribute {name!r}")

__all__ = [
    "HIERARCHICAL_TYPES",
    "NS_TYPES",
    "SCHEMA_VERSION",
    "Address",
    "BridgeInfo",
    "ConntrackEntry",
    "ConntrackTable",
    "ConntrackTuple",
    "Container",
    "ContainerNetwork",
    "Diagnostic",
    "EngineNetwork",
    "FdbEntry",
    "Holder",
    "Host",
    "Interface",
    "LowerLinkInfo",
    "Namespace",
    "NatChain",
    "NatRule",
    "NatTable",
    "NetState",
    "PeerRef",
    "PodRef",
    "PortMapping",
    "Process",
    "Route",
    "RoutingRule",
    "Rule",
    "RuleChain",
    "RuleMatch",
    "RuleTable",
    "SchemaError",
    "Snapshot",
    "Socket",
    "SocketSummary",
    "VerdictMap",
    "VlanInfo",
    "VxlanInfo",
    "from_dict",
    "parse_ns_types",
    "paused_gc",
    "snapshot_from_json",
    "snapshot_to_json",
    "to_dict",
]


class SchemaError(ValueError):
    """A JSON document that is not an nsview snapshot this version can read."""


def snapshot_to_json(snapshot: Snapshot, *, indent: int | None = 2) -> str:
    # to_dict builds a fresh tree (no cycles): skip json's per-container cycle check.
    with paused_gc():
        tree = to_dict(snapshot)
    return json.dumps(tree, indent=indent, ensure_ascii=False, check_circular=False)


def snapshot_from_json(text: str) -> Snapshot:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict) or "schema_version" not in data:
        raise SchemaError("not an nsview snapshot (no schema_version)")
    version = data["schema_version"]
    if version != SCHEMA_VERSION:
        raise SchemaError(
            f"snapshot schema_version {version!r}; this nsview reads {SCHEMA_VERSION}"
        )
    try:
        return from_dict(Snapshot, data)
    except (TypeError, ValueError, AttributeError) as exc:
        raise SchemaError(f"malformed snapshot: {exc}") from None


def load_document(text: str):
    """A snapshot or a fleet file (``nsview fleet collect``): Snapshot or Fleet.
    SchemaError (one line) for anything else."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"not JSON: {exc.msg} at line {exc.lineno}") from None
    if isinstance(data, dict) and "fleet_version" in data:
        from nsview.model.fleet import fleet_from_dict

        try:
            return fleet_from_dict(data)
        except ValueError as exc:
            raise SchemaError(str(exc)) from None
    return snapshot_from_json(text)

"""The filter/socket/conntrack additions survive the JSON round trip unchanged."""

from __future__ import annotations

from nsview.model import (
    ConntrackEntry,
    ConntrackTable,
    ConntrackTuple,
    NatChain,
    NatRule,
    NatTable,
    NetState,
    RuleMatch,
    Socket,
    VerdictMap,
    from_dict,
    to_dict,
)


def _state() -> NetState:
    rule = NatRule(
        text="-A FORWARD -m addrtype --dst-type LOCAL -j DROP",
        target="DROP",
        matches=[RuleMatch(kind="dst_type", value="LOCAL", text="-m addrtype --dst-type LOCAL")],
        target_options={"reject-with": "icmp-port-unreachable"},
        vmap=VerdictMap(key="iifname", entries={"docker0": "jump DOCKER"}),
    )
    chain = NatChain(name="FORWARD", policy="DROP", hook="forward", type="filter", rules=[rule])
    return NetState(
        filter=[NatTable("iptables-legacy", "ipv4", "filter", [chain])],
        sockets=[
            Socket(
                proto="tcp6",
                family="inet6",
                state="LISTEN",
                local="[::]:80",
                address="::",
                port=80,
                inode=1234,
                pids=[1, 2],
                v6only=False,
            )
        ],
        conntrack=ConntrackTable(
            entries=[
                ConntrackEntry(
                    family="ipv4",
                    proto="tcp",
                    original=ConntrackTuple("127.0.0.1", "127.0.0.1", 40000, 80),
                    reply=ConntrackTuple("127.0.0.1", "127.0.0.1", 80, 40000),
                    state="ESTABLISHED",
                    status=["ASSURED"],
                )
            ],
            count=1,
            by_state={"tcp ESTABLISHED": 1},
        ),
    )


def test_round_trip_keeps_every_new_field():
    state = _state()
    assert from_dict(NetState, to_dict(state)) == state


def test_old_snapshot_without_new_fields_still_loads():
    data = to_dict(NetState(nat=[NatTable("nftables", "ip", "nat", [NatChain("pre")])]))
    for key in ("filter", "sockets", "socket_summary", "conntrack"):
        data.pop(key)
    for chain in data["nat"][0]["chains"]:
        chain.pop("type")
    state = from_dict(NetState, data)
    assert state.sockets == [] and state.filter == [] and state.conntrack is None

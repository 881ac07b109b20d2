"""Which conntrack entries concern a socket, a DNAT rule or an address: hand-built tables."""

from __future__ import annotations

from nsview.analyze.conntrack_match import for_address, for_dnat_rule, for_socket, norm_ip
from nsview.model import ConntrackEntry, ConntrackTable, ConntrackTuple, NatRule, Socket


def entry(proto, o, r, state=None, status=("CONFIRMED", "SEEN_REPLY")):
    """``o``/``r``: (src, sport, dst, dport)."""
    family = "ipv6" if ":" in o[0] else "ipv4"
    return ConntrackEntry(
        family=family,
        proto=proto,
        original=ConntrackTuple(o[0], o[2], o[1], o[3]),
        reply=ConntrackTuple(r[0], r[2], r[1], r[3]),
        state=state,
        status=list(status),
    )


# 0: a client 192.0.2.9 reaches the host's 198.51.100.1:8080, DNATed to 100.64.0.2:80
# 1: the same DNAT from another client, port 8443 -> 443 (a second rule)
# 2: a plain connection from this netns to 203.0.113.5:22 (no NAT)
# 3: a UDP query from 100.64.0.2:5353 to 203.0.113.53:53, masqueraded to 198.51.100.1
# 4: an IPv6 connection to [2001:db8::1]:80
# 5: loopback: 127.0.0.1:40000 -> 127.0.0.1:8080, DNATed (OUTPUT) to 100.64.0.2:80, unreplied
TABLE = ConntrackTable(
    entries=[
        entry("tcp", ("192.0.2.9", 50000, "198.51.100.1", 8080),
              ("100.64.0.2", 80, "192.0.2.9", 50000), "ESTABLISHED",
              ("CONFIRMED", "SEEN_REPLY", "ASSURED", "DST_NAT")),
        entry("tcp", ("192.0.2.10", 50001, "198.51.100.1", 8443),
              ("100.64.0.3", 443, "192.0.2.10", 50001), "ESTABLISHED"),
        entry("tcp", ("198.51.100.1", 41000, "203.0.113.5", 22),
              ("203.0.113.5", 22, "198.51.100.1", 41000), "ESTABLISHED"),
        entry("udp", ("100.64.0.2", 5353, "203.0.113.53", 53),
              ("203.0.113.53", 53, "198.51.100.1", 5353)),
        entry("tcp", ("2001:db8::9", 50002, "2001:db8::1", 80),
              ("2001:db8::1", 80, "2001:db8::9", 50002), "TIME_WAIT"),
        entry("tcp", ("127.0.0.1", 40000, "127.0.0.1", 8080),
              ("100.64.0.2", 80, "100.64.0.1", 40000), "SYN_SENT", ("CONFIRMED",)),
    ],
    count=6,
)


def sock(proto, local, port, state, remote=None, rport=None, family="inet", v6only=None):
    text = f"[{local}]:{port}" if ":" in local else f"{local}:{port}"
    return Socket(proto=proto, family=family, state=state, local=text, address=local, port=port,
                  remote_address=remote, remote_port=rport,
                  remote=f"{remote}:{rport}" if remote else None, v6only=v6only)


def test_address_in_either_tuple():
    assert for_address(TABLE, "100.64.0.2") == [0, 3, 5]  # reply src, original src, reply src
    assert for_address(TABLE, "198.51.100.1") == [0, 1, 2, 3]
    assert for_address(TABLE, "2001:db8::1") == [4]
    assert for_address(TABLE, "2001:DB8:0::1") == [4]  # any spelling of the address
    assert for_address(TABLE, "192.0.2.200") == []
    assert for_address(TABLE, "not an ip") == []
    assert for_address(None, "100.64.0.2") == []


def test_mapped_ipv6_is_the_ipv4_address():
    assert norm_ip("::ffff:192.0.2.9") == "192.0.2.9"
    assert norm_ip("[fe80::1%eth0]") == "fe80::1"


def test_connected_socket_matches_its_own_flow_either_direction():
    client = sock("tcp", "198.51.100.1", 41000, "ESTABLISHED", "203.0.113.5", 22)
    assert for_socket(TABLE, client) == [2]
    # The server end of entry 0, in the netns that runs the service (after DNAT).
    server = sock("tcp", "100.64.0.2", 80, "ESTABLISHED", "192.0.2.9", 50000)
    assert for_socket(TABLE, server) == [0]
    # Same ends, other protocol: nothing.
    assert for_socket(TABLE, sock("udp", "198.51.100.1", 41000, "ESTABLISHED",
                                  "203.0.113.5", 22)) == []


def test_listener_matches_arrivals_before_and_after_dnat():
    assert for_socket(TABLE, sock("tcp", "0.0.0.0", 8080, "LISTEN")) == [0, 5]  # original dst
    assert for_socket(TABLE, sock("tcp", "100.64.0.2", 80, "LISTEN")) == [0, 5]  # reply src
    assert for_socket(TABLE, sock("tcp", "100.64.0.3", 80, "LISTEN")) == []
    # "::" takes IPv4 too unless v6only; an IPv4 wildcard does not take IPv6.
    assert for_socket(TABLE, sock("tcp6", "::", 80, "LISTEN", family="inet6",
                                  v6only=False)) == [0, 4, 5]
    assert for_socket(TABLE, sock("tcp6", "::", 80, "LISTEN", family="inet6",
                                  v6only=True)) == [4]
    assert for_socket(TABLE, sock("tcp", "0.0.0.0", 80, "LISTEN")) == [0, 5]


def test_unconnected_udp_socket_matches_its_sends_too():
    assert for_socket(TABLE, sock("udp", "0.0.0.0", 5353, "UNCONN")) == [3]
    # Port 53 here is the far end's: a wildcard bind takes only the netns's own addresses.
    here = {"198.51.100.1", "100.64.0.1", "127.0.0.1"}
    assert for_socket(TABLE, sock("udp", "0.0.0.0", 53, "UNCONN"), here) == []
    assert for_socket(TABLE, sock("udp", "0.0.0.0", 53, "UNCONN")) == [3]  # without: any


def test_wildcard_listener_with_local_addresses_skips_forwarded_flows():
    here = {"198.51.100.1", "127.0.0.1"}  # 100.64.0.2 lives in another netns
    assert for_socket(TABLE, sock("tcp", "0.0.0.0", 8080, "LISTEN"), here) == [0, 5]
    assert for_socket(TABLE, sock("tcp", "0.0.0.0", 80, "LISTEN"), here) == []


def test_unix_socket_matches_nothing():
    unix = Socket(proto="unix", family="unix", state="LISTEN", local="@x")
    assert for_socket(TABLE, unix) == []


def test_dnat_rule_matches_the_flows_it_translated():
    rule = NatRule(text="-A DOCKER -p tcp -m tcp --dport 8080 -j DNAT --to-destination "
                   "100.64.0.2:80", target="DNAT", to_destination="100.64.0.2:80",
                   protocol="tcp", dport="8080")
    assert for_dnat_rule(TABLE, rule) == [0, 5]
    other = NatRule(text="…", target="DNAT", to_destination="100.64.0.3:443",
                    protocol="tcp", dport="8443")
    assert for_dnat_rule(TABLE, other) == [1]
    # Without a port in to-destination, a range, a port list: still found.
    assert for_dnat_rule(TABLE, NatRule(text="…", target="DNAT",
                                        to_destination="100.64.0.2-100.64.0.3",
                                        dport="8000:9000")) == [0, 1, 5]
    assert for_dnat_rule(TABLE, NatRule(text="…", target="DNAT", to_destination="100.64.0.2",
                                        dport="22,8443")) == []
    # The destination match narrows it: only the loopback arrival.
    assert for_dnat_rule(TABLE, NatRule(text="…", target="DNAT", to_destination="100.64.0.2:80",
                                        destination="127.0.0.0/8")) == [5]
    # A negated destination does not narrow (the rule is about everything else).
    assert for_dnat_rule(TABLE, NatRule(text="…", target="DNAT", to_destination="100.64.0.2:80",
                                        destination="127.0.0.0/8",
                                        negated=["destination"])) == [0, 5]


def test_untranslated_flows_and_other_targets_do_not_match():
    # Entry 2 replies from where it went: no DNAT made it, even to the same address.
    rule = NatRule(text="…", target="DNAT", to_destination="203.0.113.5:22")
    assert for_dnat_rule(TABLE, rule) == []
    assert for_dnat_rule(TABLE, NatRule(text="…", target="MASQUERADE")) == []
    assert for_dnat_rule(TABLE, NatRule(text="…", target="DNAT")) == []  # no to-destination
    assert for_dnat_rule(None, rule) == []


def test_redirect_matches_by_to_ports():
    table = ConntrackTable(entries=[
        entry("tcp", ("192.0.2.9", 50000, "198.51.100.1", 80),
              ("198.51.100.1", 3128, "192.0.2.9", 50000), "ESTABLISHED"),
    ], count=1)
    rule = NatRule(text="…", target="REDIRECT", to_ports="3128", dport="80", protocol="tcp")
    assert for_dnat_rule(table, rule) == [0]
    assert for_dnat_rule(table, NatRule(text="…", target="REDIRECT", to_ports="8080")) == []


def test_procfs_long_ipv6_form_matches_the_short_one():
    # /proc/net/nf_conntrack writes IPv6 addresses uncompressed.
    long_ = "2001:0db8:0000:0000:0000:0000:0000:0001"
    table = ConntrackTable(entries=[
        entry("tcp", ("2001:0db8:0000:0000:0000:0000:0000:0009", 50000, long_, 443),
              (long_, 443, "2001:0db8:0000:0000:0000:0000:0000:0009", 50000), "ESTABLISHED"),
    ], count=1)
    assert for_address(table, "2001:db8::1") == [0]
    listener = sock("tcp6", "2001:db8::1", 443, "LISTEN", family="inet6")
    assert for_socket(table, listener) == [0]

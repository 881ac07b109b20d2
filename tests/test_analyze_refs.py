"""Typed references: every kind resolves to its model object, and says whose row it is."""

from __future__ import annotations

from nsview.analyze.lookup import Lookup
from nsview.analyze.refs import (
    DiagnosticRef,
    GroupRef,
    HolderRef,
    InterfaceRef,
    NamespaceRef,
    NatChainRef,
    NatRuleRef,
    NatTableRef,
    NoteRef,
    ProcessRef,
    RouteRef,
    RuleRef,
    resolve,
)
from nsview.analyze.views import build_views
from nsview.model import (
    Diagnostic,
    Holder,
    Interface,
    Namespace,
    NatChain,
    NatRule,
    NatTable,
    Process,
    Route,
    RoutingRule,
)
from tests.tui_data import HOST_NS, LAB_B_NET, fixture_snapshot

HOST_NET = HOST_NS["net"]


def test_each_kind_resolves_to_its_model_object_or_none_when_gone():
    lk = Lookup(fixture_snapshot())
    expected = {
        NamespaceRef("net", HOST_NET): Namespace,
        ProcessRef(601): Process,
        InterfaceRef(HOST_NET, 3): Interface,
        RouteRef(HOST_NET, 0): Route,
        RuleRef(HOST_NET, 0): RoutingRule,
        NatTableRef(HOST_NET, 0): NatTable,
        NatChainRef(HOST_NET, 0, 2): NatChain,
        NatRuleRef(HOST_NET, 0, 2, 0): NatRule,
        HolderRef("net", LAB_B_NET, 0): Holder,
        DiagnosticRef(0): Diagnostic,
    }
    for ref, cls in expected.items():
        assert isinstance(resolve(lk, ref), cls), ref
    gone = [
        NamespaceRef("net", 1),
        ProcessRef(424242),
        InterfaceRef(HOST_NET, 999),
        RouteRef(HOST_NET, 999),
        RuleRef(1, 0),
        NatRuleRef(HOST_NET, 0, 2, 99),
        NatChainRef(HOST_NET, 0, -1),
        HolderRef("net", LAB_B_NET, 99),
        DiagnosticRef(999),
        GroupRef("type", ns_type="net"),
        NoteRef("network not read"),
        None,
    ]
    for ref in gone:
        assert resolve(lk, ref) is None, ref


def test_subject_is_the_namespace_or_process_a_row_stands_for():
    netns = NamespaceRef("net", HOST_NET)
    assert InterfaceRef(HOST_NET, 3).subject == netns
    assert NatRuleRef(HOST_NET, 0, 2, 0).subject == netns
    assert HolderRef("pid", 7, 0).subject == NamespaceRef("pid", 7)
    assert GroupRef("procns", of=ProcessRef(601)).subject == ProcessRef(601)
    assert GroupRef("type", ns_type="net").subject is None
    assert DiagnosticRef(0).subject is None and NoteRef("x").subject is None


def test_every_row_of_every_view_has_a_typed_ref():
    lk = Lookup(fixture_snapshot())
    kinds = set()
    for view in build_views(lk).values():
        stack = list(view.roots())
        while stack:
            item = stack.pop()
            kinds.add(type(item.ref).__name__)
            assert not isinstance(item.ref, tuple), item
            hash(item.ref)  # refs key caches and sets
            stack.extend(view.children(item))
    assert {"NamespaceRef", "ProcessRef", "InterfaceRef", "RouteRef", "NatRuleRef"} <= kinds

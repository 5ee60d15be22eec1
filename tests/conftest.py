"""Shared helpers for the core tests: central finite differences and an independent sympy view of
a compiled network (built from the graph's nodes and each op's sympy twin, never from text)."""

import math
import os
import sys

import pytest
import sympy

try:  # a source checkout run as plain `pytest` (no install): make the package importable
    import treenet  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under TREENET_NO_SKIP=1 (CI, which installs every optional engine and Graphviz) a skipped
    test fails: a skip there would hide a missing feature, not an absent engine."""
    outcome = yield
    report = outcome.get_result()
    strict = os.environ.get("TREENET_NO_SKIP") == "1"
    if report.skipped and strict and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, but TREENET_NO_SKIP=1 forbids skips: {reason}"


@pytest.fixture
def registry():
    """The op registry; ops declared in a test leave it (and so the language) when it ends."""
    from treenet.ops import REGISTRY
    before = dict(REGISTRY)
    yield REGISTRY
    REGISTRY.clear()
    REGISTRY.update(before)


def central_difference(f, xs, i, rel=1e-6):
    """(f(x + h e_i) - f(x - h e_i)) / 2h, with h relative to the size of x_i."""
    h = rel * max(1.0, abs(xs[i]))
    up, down = list(xs), list(xs)
    up[i] += h
    down[i] -= h
    return (f(up) - f(down)) / (up[i] - down[i])


def close(a, b, rel=1e-9, abs_=1e-12):
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def sympy_of(net):
    """(expression, {leaf: symbol}) for a compiled network: every Input and Parameter becomes a
    real symbol named after it, Constants exact numbers, and each op its `to_sympy`."""
    from treenet import Constant
    graph = net.graph
    exprs, symbols = [], {}
    for node, kids in zip(graph.nodes, graph.children):
        if kids is None:
            if isinstance(node, Constant):
                exprs.append(sympy.Float(node.value, 30))
            else:
                sym = sympy.Symbol(f"{type(node).__name__}_{node.name}", real=True)
                symbols[node] = sym
                exprs.append(sym)
        else:
            exprs.append(node.to_sympy([exprs[j] for j in kids]))
    return exprs[-1], symbols


def sympy_eval(expr, symbols):
    """The float value of `expr` with every leaf symbol set to its node's current value."""
    subs = {sym: sympy.Float(node.value, 30) for node, sym in symbols.items()}
    return float(expr.evalf(30, subs=subs))

"""Every registered scalar op, pushed through value and derivative checks: the value against an
independent formula and the op's sympy twin, each partial against sympy's derivative of that twin
and against central finite differences. Driven from `treenet.ops.scalar_ops()`, so an op is tested
the moment it is declared; an op for which no sample points can be found fails loudly."""

import itertools
import math

import pytest
import sympy

from treenet import ops
from treenet.ops import Max, Min, Output, ReLU, Abs, Softmax

from conftest import central_difference

# Independent formulas for the ops the spec names (and the helpers the core declares).
REFERENCE = {
    "Add": lambda *a: math.fsum(a),
    "Subtract": lambda a, b: a - b,
    "Multiply": lambda *a: math.prod(a),
    "Divide": lambda a, b: a / b,
    "Negate": lambda a: -a,
    "Power": lambda a, b: a ** b,
    "ReLU": lambda a: a if a > 0 else 0.0,
    "Sigmoid": lambda a: 1.0 / (1.0 + math.exp(-a)),
    "Tanh": lambda a: (math.exp(2 * a) - 1) / (math.exp(2 * a) + 1),
    "Exp": lambda a: math.e ** a,
    "Log": lambda a: math.log(a),
    "Abs": lambda a: a if a >= 0 else -a,
    "Step": lambda a: 1.0 if a > 0 else 0.0,
    "Sign": lambda a: (a > 0) - (a < 0),
    "Max": lambda *a: sorted(a)[-1],
    "Min": lambda *a: sorted(a)[0],
}

# Sample points chosen by each op's domain, away from kinks (relu/abs/step/sign at 0, ties of
# max/min) and domain edges (log at 0, division by 0, negative bases of fractional powers).
# Variadic ops get 2 and 3 arguments.
POINTS = {
    "Add": [(0.3, -1.2), (2.5, 0.7, -0.4)],
    "Subtract": [(0.3, -1.2), (2.0, 5.5)],
    "Multiply": [(0.3, -1.2), (1.5, -0.5, 2.0), (0.0, 2.0, 3.0)],
    "Divide": [(1.0, 2.0), (-3.0, 0.5), (0.7, -1.3)],
    "Negate": [(0.3,), (-2.0,)],
    "Power": [(2.0, 3.0), (0.5, -1.5), (1.7, 0.3), (3.0, 2.0)],
    "ReLU": [(0.7,), (-0.4,), (2.3,)],
    "Sigmoid": [(0.0,), (1.3,), (-2.1,), (5.0,)],
    "Tanh": [(0.0,), (0.8,), (-1.7,), (3.0,)],
    "Exp": [(0.0,), (1.2,), (-0.7,)],
    "Log": [(0.5,), (1.0,), (3.2,)],
    "Abs": [(0.9,), (-1.4,)],
    "Step": [(0.5,), (-0.5,)],
    "Sign": [(0.5,), (-0.5,)],
    "Max": [(0.3, -1.2), (-1.0, 2.0, 0.5), (1.0, 2.0, 3.0), (3.0, 2.0, 1.0)],
    "Min": [(0.3, -1.2), (-1.0, 2.0, 0.5), (1.0, 2.0, 3.0), (3.0, 2.0, 1.0)],
}

_CANDIDATES = [0.7, -0.6, 1.3, 2.1, -1.9, 0.35]


def _arities(cls):
    lo, hi = cls.arity_range()
    counts = {lo} | ({3} if hi is None else set())
    if hi is not None:
        counts |= {hi}
    return sorted(n for n in counts if n >= 1)


def _smooth_at(op, xs):
    """True when op is defined, finite, and smooth enough for finite differences at xs."""
    try:
        out = op.compute(list(xs))
        for i in range(len(xs)):
            for h in (1e-4, 1e-5):
                f = lambda v: op.compute(v)  # noqa: E731
                up, down = list(xs), list(xs)
                up[i] += h
                down[i] -= h
                if not all(math.isfinite(f(v)) for v in (up, down)):
                    return False
            coarse = central_difference(op.compute, xs, i, rel=1e-3)
            fine = central_difference(op.compute, xs, i, rel=1e-5)
            if not math.isclose(coarse, fine, rel_tol=1e-3, abs_tol=1e-6):
                return False
        return math.isfinite(out)
    except (ArithmeticError, ValueError):
        return False


def points_for(cls):
    """Hand-picked points for known ops; for a new op, points found from a grid of candidates
    where it is defined and smooth. Fails (never skips) when there are not enough."""
    if cls.__name__ in POINTS:
        return POINTS[cls.__name__]
    found = []
    for n in _arities(cls):
        op = cls([0.0] * n)
        for xs in itertools.product(_CANDIDATES, repeat=n):
            if _smooth_at(op, xs):
                found.append(xs)
            if len([p for p in found if len(p) == n]) >= 3:
                break
    if len(found) < 2:
        pytest.fail(f"no sample points for the new op {cls.__name__}: add them to POINTS in "
                    "tests/test_ops.py")
    return found


def _cases(treenet_only=False):
    # an op a test declares for its own purposes has no formula here
    return [pytest.param(cls, id=cls.__name__) for cls in ops.scalar_ops()
            if not treenet_only or cls.__module__.startswith("treenet")]


def _symbols(n):
    return sympy.symbols(f"a0:{n}", real=True)


def _sympy_at(expr, syms, xs):
    return float(expr.evalf(30, subs={s: sympy.Float(x, 30) for s, x in zip(syms, xs)}))


def test_registry_has_the_spec_ops():
    names = set(ops.calls())
    assert {"relu", "sigmoid", "tanh", "exp", "log", "abs", "max", "min", "linear",
            "softmax"} <= names


def test_registry_has_the_operators():
    symbols = {(cls.symbol, cls.notation) for cls in ops.REGISTRY.values() if cls.symbol}
    assert {("+", "infix"), ("-", "infix"), ("*", "infix"), ("/", "infix"), ("^", "infix"),
            ("-", "prefix")} <= symbols


@pytest.mark.parametrize("cls", _cases())
def test_every_op_has_sample_points(cls):
    assert len(points_for(cls)) >= 2


@pytest.mark.parametrize("cls", _cases(treenet_only=True))
def test_value_matches_reference_formula(cls):
    if cls.__name__ not in REFERENCE:
        pytest.fail(f"no independent formula for the new op {cls.__name__}: add it to REFERENCE")
    for xs in points_for(cls):
        got = cls([0.0] * len(xs)).compute(list(xs))
        assert math.isclose(got, REFERENCE[cls.__name__](*xs), rel_tol=1e-12, abs_tol=1e-15), xs


@pytest.mark.parametrize("cls", _cases())
def test_value_matches_sympy_twin(cls):
    for xs in points_for(cls):
        op = cls([0.0] * len(xs))
        syms = _symbols(len(xs))
        expected = _sympy_at(op.to_sympy(list(syms)), syms, xs)
        assert math.isclose(op.compute(list(xs)), expected, rel_tol=1e-12, abs_tol=1e-15), xs


@pytest.mark.parametrize("cls", _cases())
def test_partials_match_sympy_derivative(cls):
    for xs in points_for(cls):
        op = cls([0.0] * len(xs))
        syms = _symbols(len(xs))
        expr = op.to_sympy(list(syms))
        out = op.compute(list(xs))
        got = op.partials(list(xs), out)
        assert len(got) == len(xs)
        for i, s in enumerate(syms):
            expected = _sympy_at(sympy.diff(expr, s), syms, xs)
            assert math.isclose(got[i], expected, rel_tol=1e-10, abs_tol=1e-12), (xs, i)


@pytest.mark.parametrize("cls", _cases())
def test_partials_match_finite_differences(cls):
    for xs in points_for(cls):
        op = cls([0.0] * len(xs))
        got = op.partials(list(xs), op.compute(list(xs)))
        for i in range(len(xs)):
            expected = central_difference(op.compute, xs, i)
            assert math.isclose(got[i], expected, rel_tol=1e-6, abs_tol=1e-7), (xs, i)


@pytest.mark.parametrize("cls", _cases())
def test_vjp_is_upstream_times_partials(cls):
    g = -1.75
    for xs in points_for(cls):
        op = cls([0.0] * len(xs))
        out = op.compute(list(xs))
        partials = op.partials(list(xs), out)
        got = op.vjp(list(xs), out, g)
        assert got == pytest.approx([g * d for d in partials], rel=1e-12, abs=1e-15)


def test_power_negative_base_integer_exponent():
    op = ops.Power([0.0, 0.0])
    assert op.compute([-2.0, 3.0]) == -8.0
    assert op.partials([-2.0, 3.0], -8.0)[0] == pytest.approx(12.0)


# --- kinks: the engine's conventions, and the sympy twins agree with them ----------------------

KINKS = [
    # (op, point, expected partials)
    (ReLU, (0.0,), [0.0]),
    (Abs, (0.0,), [0.0]),
    (Max, (1.0, 1.0), [1.0, 0.0]),
    (Min, (1.0, 1.0), [1.0, 0.0]),
    (Max, (0.0, 2.0, 2.0), [0.0, 1.0, 0.0]),
    (Min, (0.5, -1.0, -1.0), [0.0, 1.0, 0.0]),
    (Max, (2.0, 2.0, 2.0), [1.0, 0.0, 0.0]),
]


@pytest.mark.parametrize("cls,xs,expected", KINKS, ids=[f"{c.__name__}{x}" for c, x, _ in KINKS])
def test_kink_convention(cls, xs, expected):
    op = cls([0.0] * len(xs))
    assert op.partials(list(xs), op.compute(list(xs))) == expected


@pytest.mark.parametrize("cls,xs,expected", KINKS, ids=[f"{c.__name__}{x}" for c, x, _ in KINKS])
def test_sympy_twin_follows_kink_convention(cls, xs, expected):
    op = cls([0.0] * len(xs))
    syms = _symbols(len(xs))
    expr = op.to_sympy(list(syms))
    got = [_sympy_at(sympy.diff(expr, s), syms, xs) for s in syms]
    assert got == expected


# --- vector outputs ---------------------------------------------------------------------------

SOFTMAX_POINTS = [(0.3, -1.2), (1.0, 2.0, 3.0), (-0.5, 0.0, 0.5, 4.0)]


def _softmax(xs):
    es = [math.exp(x) for x in xs]
    return [e / sum(es) for e in es]


@pytest.mark.parametrize("xs", SOFTMAX_POINTS)
def test_softmax_value(xs):
    assert Softmax([0.0] * len(xs)).compute(list(xs)) == pytest.approx(_softmax(xs), rel=1e-12)


def test_softmax_is_stable_for_large_arguments():
    assert Softmax([0.0] * 3).compute([1000.0, 1000.0, -1000.0]) == pytest.approx([0.5, 0.5, 0.0])


@pytest.mark.parametrize("xs", SOFTMAX_POINTS)
def test_softmax_vjp_matches_finite_differences(xs):
    op = Softmax([0.0] * len(xs))
    g = [0.7 - 0.4 * k for k in range(len(xs))]
    out = op.compute(list(xs))
    got = op.vjp(list(xs), out, g)
    dot = lambda v: sum(gk * yk for gk, yk in zip(g, op.compute(v)))  # noqa: E731
    expected = [central_difference(dot, xs, i) for i in range(len(xs))]
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("xs", SOFTMAX_POINTS)
def test_softmax_vjp_matches_sympy(xs):
    syms = _symbols(len(xs))
    op = Softmax([0.0] * len(xs))
    g = [1.5, -0.5, 0.25, 2.0][:len(xs)]
    dot = sympy.Add(*[gk * e for gk, e in zip(g, op.to_sympy(list(syms)))])
    expected = [_sympy_at(sympy.diff(dot, s), syms, xs) for s in syms]
    got = op.vjp(list(xs), op.compute(list(xs)), g)
    assert got == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_output_vector_passes_values_and_gradients_through():
    op = Output([0.0] * 3)
    assert op.compute([1.0, -2.0, 3.5]) == [1.0, -2.0, 3.5]
    assert op.vjp([1.0, -2.0, 3.5], [1.0, -2.0, 3.5], [0.1, 0.2, 0.3]) == [0.1, 0.2, 0.3]

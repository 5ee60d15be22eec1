"""treenet.gradcheck's remaining quadratic costs (issue 8), in the brief's order: (1) a finite-
difference probe of one argument of a wide sum, max or min costs O(1) at that node, not its
width, and the check stays sound; (2) arguments all tied at a max/min kink cost linear work. Work
is counted (arguments the ops read), never timed."""

import importlib
import math
import random

import pytest

import treenet
from treenet import Add, Max, Min

gc = importlib.import_module("treenet.gradcheck")  # the module (treenet.gradcheck is the function)


def counting(monkeypatch, cls, name="compute"):
    """Patch cls.name to count the arguments it reads; returns the running count (a list)."""
    read = [0]
    original = getattr(cls, name)

    def counted(self, xs, *rest):
        read[0] += len(xs)
        return original(self, xs, *rest)
    monkeypatch.setattr(cls, name, counted)
    return read


def wide_sum(n):
    return treenet.parse(f"input v[{n}]\n" + " + ".join(f"p*v[{i}]" for i in range(n)), seed=0)


# --- 1: one wide node, finite differences ------------------------------------------------------

@pytest.mark.parametrize("method", ["all", "fd"])
def test_finite_differences_on_a_wide_sum_do_not_re_add_it_per_probe(method, monkeypatch):
    # 2n variables, 4 probes each: re-adding the n terms per probe read 8 n^2 = 2,000,000 terms
    n = 500
    net = wide_sum(n)
    point = [i / n for i in range(n)]
    net.predict(point)
    added = counting(monkeypatch, Add)
    report = treenet.gradcheck(net, point, method=method)
    assert report.ok and len(report) == 2 * n
    assert added[0] <= 4 * n  # the forward pass at the point, and no more


def test_finite_differences_on_a_wide_dense_unit_do_not_re_add_it_per_probe(monkeypatch):
    n = 300
    net = treenet.parse(f"input v[{n}]\nsigmoid(linear(v))", seed=0)
    point = [((i * 37) % 100) / 100 for i in range(n)]
    net.predict(point)
    added = counting(monkeypatch, Add)
    report = treenet.gradcheck(net, point, method="fd")
    assert report.ok and len(report) == 2 * n + 1
    assert added[0] <= 4 * n


@pytest.mark.parametrize("op", ["max", "min"])
def test_finite_differences_on_a_wide_max_do_not_recompute_it_per_probe(op, monkeypatch):
    # distinct arguments: also the test for a kink exactly at the point, which nudged each
    # argument both ways and recomputed the whole max each time
    n = 400
    net = treenet.parse(f"{op}(" + ", ".join(f"x{i}" for i in range(n)) + ")")
    point = [((i * 7919) % n) / n for i in range(n)]
    cls = Max if op == "max" else Min
    net.predict(point)
    read = counting(monkeypatch, cls)
    report = treenet.gradcheck(net, point, method="fd")
    winner = point.index(max(point) if op == "max" else min(point))
    assert report.ok and [r.status for r in report] == ["ok"] * n
    assert [r.autodiff for r in report] == [1.0 if k == winner else 0.0 for k in range(n)]
    assert read[0] <= 8 * n  # only the probes that move the winner itself (it may fall short)


@pytest.mark.parametrize("method", ["all", "fd"])
def test_a_wrong_gradient_through_a_wide_sum_still_fails(method, monkeypatch):
    # one term's gradient off by one part in a million: recomputing the whole sum per probe let
    # its rounding allowance (eps * width * sum of |terms|) hide that; an update rounds like one
    # addition, and so is allowed one
    n = 500
    net = wide_sum(n)
    point = [i / n for i in range(n)]

    def vjp(self, xs, out, g):
        return [g] * (len(xs) - 1) + [g * (1 + 1e-6)]
    monkeypatch.setattr(Add, "vjp", vjp)
    monkeypatch.setattr(Add, "partials", lambda self, xs, out: vjp(self, xs, out, 1.0))
    report = treenet.gradcheck(net, point, method=method, wrt=[f"v_{n - 1}", "v_0"])
    assert [r.status for r in report] == ["FAIL", "ok"], str(report)
    if method == "all":
        assert "finite differences" in report.rows[0].note


def test_a_correct_gradient_through_a_wide_sum_that_cancels_passes():
    # terms of 1e12 that cancel, and small ones: every update rounds at the scale of the large
    # terms, which the allowance must cover
    n = 64
    net = wide_sum(n)
    point = [(1e12 if i % 2 else -1e12) * (1 + i / n) if i % 3 else i / n for i in range(n)]
    report = treenet.gradcheck(net, point, method="fd")
    assert report.ok, [str(r) for r in report if not r.ok][:3]


OPS_WITH_UPDATES = [cls for cls in treenet.ops.scalar_ops() if hasattr(cls, "update")]


@pytest.mark.parametrize("cls", OPS_WITH_UPDATES, ids=lambda c: c.__name__)
def test_an_update_rule_agrees_with_compute(cls):
    # values with ties and signed zeros; the update's value within its stated rounding, its
    # branch flag equal to whether the local partials changed
    rng = random.Random(0)
    pool = [0.0, -0.0, 1.0, -1.0, 2.5, 2.5, -3.0, 1e-300, 7.0]
    op = cls([treenet.Input(0.0), treenet.Input(0.0)])
    for _ in range(3000):
        xs = [rng.choice(pool) for _ in range(rng.randint(2, 6))]
        out = op.compute(xs)
        k, new = rng.randrange(len(xs)), rng.choice(pool + [0.5, 9.0, -9.0])
        moved = op.update(op.update_state(xs, out), k, xs[k], new)
        ys = list(xs)
        ys[k] = new
        full = op.compute(ys)
        if moved is None:
            continue  # compute decides
        value, same = moved
        assert abs(value - full) <= 2 * gc._EPS * (abs(out) + abs(xs[k]) + abs(new)), (xs, k, new)
        if value == full == 0:
            assert math.copysign(1, value) == math.copysign(1, full), (xs, k, new)
        assert same == (op.partials(ys, full) == op.partials(xs, out)), (xs, k, new)


# --- 2: arguments tied at a kink ---------------------------------------------------------------

@pytest.mark.parametrize("op", ["max", "min"])
def test_a_max_of_tied_arguments_costs_linear_work(op, monkeypatch):
    # every argument sits on the kink; each row's one-sided derivatives were a whole 50-digit
    # sweep of the n-way fold (2 n^2 = 180,000 fold steps at n = 300)
    n = 300
    net = treenet.parse(f"{op}(" + ", ".join(f"x{i}" for i in range(n)) + ")")
    steps = counting(monkeypatch, gc._FoldRule, "_accumulated")
    report = treenet.gradcheck(net, [1.0] * n)
    assert report.ok and [r.status for r in report] == ["KINK"] * n
    assert [r.autodiff for r in report] == [1.0] + [0.0] * (n - 1)
    # moving one argument down leaves the others' extreme; moving it up makes it the extreme
    toward, away = (0.0, 1.0) if op == "max" else (1.0, 0.0)
    assert [(r.left, r.right) for r in report] == [(toward, away)] * n
    assert steps[0] <= 10 * n

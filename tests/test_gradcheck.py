"""treenet.gradcheck: the three-way report, its kink handling, and that it catches a wrong
backward pass."""

import math

import pytest

import treenet
from treenet import Input, Parameter, Tanh


def test_report_rows_and_values():
    net = treenet.parse("w = p(0.5); tanh(w*x + y)")
    report = treenet.gradcheck(net, {"x": 0.3, "y": -0.2})
    assert [r.name for r in report] == ["x", "y", "w"]
    z = 0.5 * 0.3 - 0.2
    hand = {"x": 0.5 * (1 - math.tanh(z) ** 2), "y": 1 - math.tanh(z) ** 2,
            "w": 0.3 * (1 - math.tanh(z) ** 2)}
    for row in report:
        assert row.status == "ok"
        assert math.isclose(row.symbolic, hand[row.name], rel_tol=1e-14)
        assert math.isclose(row.fd, hand[row.name], rel_tol=1e-8)
        assert row.abs_error == abs(row.autodiff - row.symbolic)
    assert report.ok and bool(report)
    assert report.max_error <= 1e-15


def test_prints_as_a_table_naming_each_variable():
    net = treenet.parse("rate = p(0.5); sigmoid(rate*speed)")
    text = str(treenet.gradcheck(net, {"speed": 2.0}))
    lines = text.splitlines()
    assert "autodiff" in lines[0] and "symbolic" in lines[0] and "finite diff" in lines[0]
    assert lines[2].startswith("speed") and lines[3].startswith("rate")
    assert lines[-1].startswith("ok")


class WrongTanh(Tanh):
    """tanh with a wrong local derivative (1 - out instead of 1 - out^2); not registered."""

    def partials(self, xs, out):
        return [1.0 - out]


@pytest.mark.parametrize("method", ["all", "symbolic", "fd"])
def test_catches_a_wrong_backward(method):
    x = Input(0.7, name="x")
    net = WrongTanh([x])
    net.compile()
    report = treenet.gradcheck(net, method=method)
    assert not report.ok
    assert report["x"].status == "FAIL"
    assert report.max_error > 0.1
    assert "FAILED" in str(report)


def test_methods_fill_their_columns_only():
    net = treenet.parse("sigmoid(p*x + p)", seed=0)
    sym = treenet.gradcheck(net, {"x": 0.2}, method="symbolic")
    fd = treenet.gradcheck(net, {"x": 0.2}, method="fd")
    assert all(r.fd is None and r.symbolic is not None for r in sym)
    assert all(r.symbolic is None and r.fd is not None for r in fd)
    for a, b in zip(sym, fd):
        assert math.isclose(a.symbolic, b.fd, rel_tol=1e-8)
    with pytest.raises(treenet.TreenetError, match="method"):
        treenet.gradcheck(net, {"x": 0.2}, method="exact")


@pytest.mark.parametrize("method", ["all", "symbolic", "fd"])
@pytest.mark.parametrize("source, point, var, left, right", [
    ("relu(x)", {"x": 0.0}, "x", 0.0, 1.0),
    ("abs(x)*2", {"x": 0.0}, "x", -2.0, 2.0),
    ("max(x, y)", {"x": 1.0, "y": 1.0}, "x", 0.0, 1.0),
    ("max(x, y)", {"x": 1.0, "y": 1.0}, "y", 0.0, 1.0),
    ("min(x, 3*y)", {"x": 0.0, "y": 0.0}, "y", 3.0, 0.0),
])
def test_kink_is_reported_with_one_sided_derivatives(method, source, point, var, left, right):
    net = treenet.parse(source)
    report = treenet.gradcheck(net, point, method=method)
    row = report[var]
    assert row.status == "KINK"
    assert (row.left, row.right) == (left, right)
    assert report.ok
    assert "KINK" in str(report)


@pytest.mark.parametrize("method", ["all", "fd"])
@pytest.mark.parametrize("source, point, var, at_point, left, right", [
    ("relu(x)*3 + x", {"x": 1e-7}, "x", 4.0, 1.0, 4.0),
    ("relu(x)*3 + x", {"x": -1e-7}, "x", 1.0, 1.0, 4.0),
    ("abs(x)*2 + x", {"x": -1e-7}, "x", -1.0, -1.0, 3.0),
    ("max(x, y)", {"x": 1 + 1e-9, "y": 1.0}, "x", 1.0, 0.0, 1.0),  # a near tie
    ("max(x, y)", {"x": 1 + 1e-9, "y": 1.0}, "y", 0.0, 0.0, 1.0),
    ("min(x, 3*y)", {"x": 3e-8, "y": 1e-8}, "y", 0.0, 3.0, 0.0),  # 3*y is one ulp above x
])
def test_kink_within_the_stencil_but_not_at_the_point(method, source, point, var, at_point,
                                                      left, right):
    # the derivative exists at the point (the exact column); the one-sided values are those on
    # either side of the kink the finite differences stepped over
    net = treenet.parse(source)
    report = treenet.gradcheck(net, point, method=method)
    row = report[var]
    assert row.status == "KINK" and row.autodiff == at_point
    assert row.symbolic == (at_point if method == "all" else None)
    assert (row.left, row.right) == (left, right)
    assert f"left {left:.10g}, right {right:.10g}" in str(report)
    assert report.ok
    assert treenet.gradcheck(net, point, method="symbolic")[var].status == "ok"  # no stencil


def test_point_and_grads_are_restored():
    net = treenet.parse("w = p(0.25); w*x*x")
    w = net.parameters[0]
    net.predict({"x": 5.0})
    w.grad = 123.0
    report = treenet.gradcheck(net, {"x": 2.0, "w": 3.0})
    assert report["w"].autodiff == 4.0 and report["x"].autodiff == 12.0
    assert (w.value, w.grad, net.inputs[0].value) == (0.25, 123.0, 5.0)


def test_wrt_restricts_the_rows():
    net = treenet.parse("p*x + p*y + p", seed=1)
    report = treenet.gradcheck(net, {"x": 1, "y": 2}, wrt=["y", "p2"])
    assert [r.name for r in report] == ["y", "p2"]
    with pytest.raises(treenet.TreenetError):
        treenet.gradcheck(net, {"x": 1, "y": 2}, wrt=["q"])


def test_vector_output_by_component():
    net = treenet.parse("softmax(x, 2*x, y)")
    with pytest.raises(treenet.TreenetError, match="component"):
        treenet.gradcheck(net, {"x": 0.1, "y": 0.5})
    for k in range(3):
        assert treenet.gradcheck(net, {"x": 0.1, "y": 0.5}, component=k).ok


def test_finite_differences_leaving_the_domain_are_not_a_failure():
    net = treenet.parse("log(x)")
    report = treenet.gradcheck(net, {"x": 1e-7})
    row = report["x"]
    assert row.fd is None and "domain" in row.note
    assert row.status == "ok" and math.isclose(row.symbolic, 1e7, rel_tol=1e-12)


def test_three_hundred_parameter_network_checks_out():
    # how long this takes is measured by benchmarks/bench_gradcheck.py, not asserted here
    net = treenet.parse("sigmoid(linear(tanh(dense(16, tanh(dense(16, x, y))))))", seed=0)
    assert len(net.parameters) > 300
    report = treenet.gradcheck(net, {"x": 0.5, "y": -0.3})
    assert report.ok and report.max_error < 1e-12
    assert len(report.rows) == len(net.parameters) + 2


def test_an_op_with_thousands_of_arguments_checks_out():
    # a sum is checked as the fold of its binary twin: sympy never sees the 3000-term formula
    # (which used to exhaust its recursion)
    xs = [Input(1.0 + i / 4096, name=f"x{i}") for i in range(3000)]
    net = treenet.Add(xs)
    report = treenet.gradcheck(net, method="symbolic")
    assert report.ok and all(r.symbolic == 1.0 for r in report)
    assert treenet.gradcheck(net, method="fd", wrt=["x0", "x2999"]).ok


def test_power_of_a_zero_base_with_a_constant_exponent():
    # sympy's general d/da a^b is b*a^b/a: the exact column must not divide by this 0
    report = treenet.gradcheck(treenet.parse("relu(x)^2 + x"), {"x": -1.0})
    assert report.ok and report["x"].symbolic == 1.0

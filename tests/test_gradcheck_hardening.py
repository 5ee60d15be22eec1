"""treenet.gradcheck hardening (issue 8), in the issue's order: (A) correct gradients pass at any
scale and curvature, and a bad step is refused; (B) max/min are linear in their arity; (C) sums
and chains cost what their size says; (D) clear errors; (E) no sympy at import."""

import importlib
import math

import pytest

import treenet
from treenet import Constant, Input, Multiply, Tanh

gc = importlib.import_module("treenet.gradcheck")  # the module (treenet.gradcheck is the function)


# --- A: sound tolerances ----------------------------------------------------------------------

def test_an_exact_gradient_at_a_subnormal_scale_passes():
    report = treenet.gradcheck(treenet.parse("x*1e-320"), [0.5])
    assert report["x"].abs_error == 0
    assert report.ok, str(report)


def test_a_function_turning_within_the_default_step_passes():
    # tanh(2.5e10*x) goes from -1 to 1 well inside the default step around 0
    report = treenet.gradcheck(treenet.parse("tanh(p(2.5e10)*x)"), [0.0])
    assert report.ok, str(report)
    assert math.isclose(report["x"].fd, 2.5e10, rel_tol=1e-3)


def test_a_fifty_layer_shared_chain_passes():
    source = "input x\nc = x\n" + "c = tanh(c*p + c)\n" * 50 + "c"
    report = treenet.gradcheck(treenet.parse(source, seed=0), [0.1])
    assert report.ok, [str(r) for r in report if not r.ok][:3]


def test_subnormal_gradients_on_a_deep_chain_pass_without_atol():
    source = "input x\nc = x\n" + "c = c*p(1e-20)\n" * 16 + "c"
    report = treenet.gradcheck(treenet.parse(source), [0.5], atol=0.0)
    assert 0 < abs(report["x"].autodiff) < 2.0 ** -1022  # subnormal
    assert report.ok, str(report)


class WrongTanh(Tanh):
    """tanh with a wrong local derivative (1 - out instead of 1 - out^2); not registered."""

    def partials(self, xs, out):
        return [1.0 - out]


@pytest.mark.parametrize("method", ["all", "symbolic", "fd"])
def test_a_wrong_gradient_still_fails_at_a_tiny_scale(method):
    x = Input(0.7, name="x")
    net = Multiply([WrongTanh([x]), Constant(1e-300)])
    net.compile()
    report = treenet.gradcheck(net, method=method, atol=0.0)
    assert report["x"].status == "FAIL"


@pytest.mark.parametrize("step", [math.nan, math.inf, 0, -1e-6, "abc", True])
def test_a_step_that_is_not_a_positive_finite_number_is_refused(step):
    net = treenet.parse("x*p(1)")
    with pytest.raises(treenet.TreenetError, match="step"):
        treenet.gradcheck(net, [0.5], step=step)


# --- B: max/min linear in their arity ---------------------------------------------------------

@pytest.mark.parametrize("op", ["max", "min"])
def test_a_nine_way_max_never_shows_sympy_more_than_three_arguments(op, monkeypatch):
    seen = []
    cls = treenet.Max if op == "max" else treenet.Min
    original = cls.to_sympy
    monkeypatch.setattr(cls, "to_sympy", lambda self, args: seen.append(len(args)) or
                        original(self, args))
    net = treenet.parse(f"{op}(" + ", ".join(f"x{i}" for i in range(9)) + ")")
    point = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0]
    report = treenet.gradcheck(net, point, method="symbolic")
    chosen = point.index(max(point) if op == "max" else min(point))
    assert [r.symbolic for r in report] == [1.0 if k == chosen else 0.0 for k in range(9)]
    assert report.ok
    assert max(seen, default=0) <= 3


def test_the_demo_checks_a_wide_max(capsys):
    from treenet import demo
    status = demo.run(["max(x,y,x,y,x,y,x,y,x)", "--epochs", "1", "--quiet"])
    out = capsys.readouterr().out
    assert status == 0 and "ok: 2 variables" in out


# --- C: linear in fan-in and depth ------------------------------------------------------------

def test_a_wide_sum_never_shows_sympy_more_than_three_arguments(monkeypatch):
    seen = []
    original = treenet.Add.to_sympy
    monkeypatch.setattr(treenet.Add, "to_sympy", lambda self, args: seen.append(len(args)) or
                        original(self, args))
    net = treenet.parse("input v[300]\nsigmoid(linear(v))", seed=0)
    report = treenet.gradcheck(net, [i / 300 for i in range(300)], method="symbolic")
    assert report.ok and len(report) == 601
    assert max(seen, default=0) <= 3


def test_finite_differences_compute_only_the_cones(monkeypatch):
    # on a chain of L tanh(p*c) layers, the parameter of layer k moves L - k + 1 tanh nodes: the
    # probes (4 per variable) cost the sum of the cones, nothing for the rest of the graph
    layers = 30
    calls = []
    original = Tanh.compute
    monkeypatch.setattr(Tanh, "compute", lambda self, xs: calls.append(1) or original(self, xs))
    net = treenet.parse("input x\nc = x\n" + "c = tanh(p*c)\n" * layers + "c", seed=0)
    net.predict([0.3])
    calls.clear()
    report = treenet.gradcheck(net, [0.3], method="fd")
    assert report.ok
    cones = layers + sum(layers - k for k in range(layers))  # x's, then each parameter's
    assert len(calls) == 4 * cones


def test_a_perturbation_lost_to_rounding_stops_being_recomputed(monkeypatch):
    # tanh(50*c) is exactly 1.0 near c = 1: moving anything below it changes nothing above it,
    # so the 30 layers above are not recomputed for the variables below
    calls = []
    original = Tanh.compute
    monkeypatch.setattr(Tanh, "compute", lambda self, xs: calls.append(1) or original(self, xs))
    source = "input x\nc = tanh(p(50)*x)\n" + "c = tanh(p(0.9)*c)\n" * 30 + "c"
    net = treenet.parse(source)
    net.predict([1.0])
    calls.clear()
    report = treenet.gradcheck(net, [1.0], method="fd", wrt=["x", "p0"])
    assert report.ok
    assert len(calls) == 2 * 4  # the saturated tanh, once per probe, for each of the two


# --- D: clear errors ----------------------------------------------------------------------------

def test_a_declared_input_the_output_does_not_read_has_gradient_zero():
    net = treenet.parse("input x, y\nx*2")
    report = treenet.gradcheck(net, [1.0, 2.0])
    assert report.ok and report["y"].autodiff == 0.0 and report["y"].symbolic == 0.0
    assert report["y"].fd == 0.0
    only = treenet.gradcheck(net, [1.0, 2.0], wrt=["y"])
    assert [r.name for r in only] == ["y"] and only.ok


@pytest.mark.parametrize("value", [None, "abc", math.nan, True])
def test_a_parameter_value_that_is_not_a_number_is_a_treenet_error(value):
    net = treenet.parse("x*p(1)")
    with pytest.raises(treenet.TreenetError, match="p0"):
        treenet.gradcheck(net, {"x": 0.5, "p0": value})


def test_a_bad_wrt_is_a_treenet_error_with_a_hint():
    net = treenet.parse("x*p(1)")
    with pytest.raises(treenet.TreenetError, match="wrt"):
        treenet.gradcheck(net, [0.5], wrt=3)
    with pytest.raises(treenet.TreenetError, match="did you mean 'p0'"):
        treenet.gradcheck(net, [0.5], wrt=["p"])


def test_an_unknown_name_in_a_report_is_a_treenet_error_with_a_hint():
    report = treenet.gradcheck(treenet.parse("rate = p(1); rate*x"), [0.5])
    with pytest.raises(treenet.TreenetError, match="did you mean 'rate'"):
        report["rat"]
    with pytest.raises(treenet.TreenetError, match="no variable 'nope'"):
        report["nope"]


# --- E: fast start ------------------------------------------------------------------------------

def test_the_gradcheck_module_does_not_import_sympy_or_mpmath_when_loaded():
    assert not hasattr(gc, "sympy") and not hasattr(gc, "mpmath")

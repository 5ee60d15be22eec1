"""The op contract (issue 7): what an Operation subclass must and may declare, in the order of the
issue's list: defaults so a call-only op prints and says clearly what it lacks, clashes refused at
class definition, printing driven by each op's data (no per-op code in the printer), a custom op
end to end, and ops.py importing without sympy."""

import math
import os
import subprocess
import sys

import pytest

import treenet
from treenet import Input, Operation, TreenetError, parse
from treenet.errors import MissingRuleError
from treenet.ops import PRODUCT, POWER

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _softplus_call_only():
    class Softplus(Operation):
        """softplus(x) = log(1 + e^x)  (softplus' = sigmoid)"""
        call = "softplus"

        def compute(self, xs):
            x = xs[0]
            return max(x, 0.0) + math.log1p(math.exp(-abs(x)))

        def partials(self, xs, out):
            return [1.0 / (1.0 + math.exp(-xs[0]))]
    return Softplus


# --- defaults: a call-only op prints, runs, and names what it lacks ----------------------------

def test_call_only_op_prints_and_runs(registry):
    _softplus_call_only()
    net = parse("softplus(2*x) + 1")
    assert net.funcify() == "softplus(2*x) + 1"
    assert treenet.latex(net) == r"\operatorname{softplus}\left(2 \cdot x\right) + 1"
    assert net.predict([0.0]) == math.log(2.0) + 1
    net.backward()
    assert net.inputs[0].grad == 2 * 0.5


def test_call_only_op_without_to_sympy_says_so(registry):
    _softplus_call_only()
    net = parse("softplus(x)")
    with pytest.raises(MissingRuleError, match="op Softplus has no to_sympy"):
        treenet.to_sympy(net)
    with pytest.raises(TreenetError, match="op Softplus has no dnodes"):
        treenet.derivative(net, "x")
    assert treenet.gradcheck(net, {"x": 0.3}, method="fd").ok  # needs neither


def test_op_without_compute_is_refused_at_definition(registry):
    with pytest.raises(TreenetError, match="op Half has no compute"):
        class Half(Operation):
            call = "half"


def test_op_without_partials_is_refused_at_definition(registry):
    with pytest.raises(TreenetError, match="op Half has no partials"):
        class Half(Operation):
            call = "half"

            def compute(self, xs):
                return xs[0] / 2


# --- clashes in the registry ------------------------------------------------------------------

def test_second_op_with_a_taken_call_name_is_refused(registry):
    with pytest.raises(TreenetError, match="call name 'relu' is taken by ReLU"):
        class MyRelu(Operation):
            call = "relu"

            def compute(self, xs):
                return max(xs[0], 0.0)

            def partials(self, xs, out):
                return [float(xs[0] > 0)]
    assert registry["ReLU"] is treenet.ReLU
    assert parse("relu(-x)").predict([2.0]) == 0.0


def test_second_op_with_a_taken_class_name_is_refused(registry):
    with pytest.raises(TreenetError, match="class name 'Tanh' is taken"):
        class Tanh(Operation):
            call = "my_tanh"

            def compute(self, xs):
                return math.tanh(xs[0])

            def partials(self, xs, out):
                return [1 - out * out]
    assert registry["Tanh"] is treenet.Tanh


def test_redeclaring_the_same_class_replaces_it(registry):
    # the same module and qualname: importlib.reload, or a notebook cell run again
    first, second = _softplus_call_only(), _softplus_call_only()
    assert first is not second
    assert registry["Softplus"] is second
    assert sum(cls.call == "softplus" for cls in registry.values()) == 1


# --- printing is the ops' data ------------------------------------------------------------------

def test_printer_has_no_per_op_code():
    source = open(os.path.join(ROOT, "treenet", "printer.py"), encoding="utf-8").read()
    for cls in treenet.ops.scalar_ops() + [treenet.Output, treenet.Softmax]:
        assert not __import__("re").search(rf"\b{cls.__name__}\b", source), cls.__name__
    for symbol in ['"/"', '"*"', '"^"', '"-"', '"+"']:
        assert f"symbol == {symbol}" not in source
    assert "POWER" not in source


def test_printer_follows_a_new_infix_ops_precedence_associativity_and_latex(registry):
    class Modulo(Operation):
        """a mod b"""
        symbol, notation, precedence, arity = "%", "infix", PRODUCT, 2
        associativity, latex = "left", r"{0} \bmod {1}"

        def compute(self, xs):
            return math.fmod(xs[0], xs[1])

        def partials(self, xs, out):
            return [1.0, -float(int(xs[0] / xs[1]))]

    class Tetrate(Operation):
        """a ^^ b, right-associative like ^"""
        symbol, notation, precedence, arity = "^^", "infix", POWER, 2
        associativity, latex = "right", "{0}\\uparrow\\uparrow{{1}}"

        def compute(self, xs):
            return xs[0] ** xs[0]

        def partials(self, xs, out):
            return [0.0, 0.0]

    x, y, z = Input(name="x"), Input(name="y"), Input(name="z")
    assert Modulo([Modulo([x, y]), z]).funcify() == "x%y%z"
    assert Modulo([x, Modulo([y, z])]).funcify() == "x%(y%z)"
    assert Modulo([x, treenet.Add([y, z])]).funcify() == "x%(y + z)"
    assert treenet.latex(Modulo([treenet.Add([x, y]), z])) == \
        r"\left(x + y\right) \bmod z"
    assert Tetrate([x, Tetrate([y, z])]).funcify() == "x^^y^^z"
    assert Tetrate([Tetrate([x, y]), z]).funcify() == "(x^^y)^^z"
    assert treenet.latex(Tetrate([x, treenet.Add([y, z])])) == r"x\uparrow\uparrow{y + z}"


# --- a custom op end to end -----------------------------------------------------------------------

def _softplus_full():
    from treenet import algebra as B

    class Softplus(Operation):
        """softplus(x) = log(1 + e^x)  (softplus' = sigmoid)"""
        call = "softplus"
        latex = r"\operatorname{softplus}\left({args}\right)"

        def compute(self, xs):
            x = xs[0]
            return max(x, 0.0) + math.log1p(math.exp(-abs(x)))  # never overflows

        def partials(self, xs, out):
            return [1.0 / (1.0 + math.exp(-xs[0]))]

        def dnodes(self, args, out):
            return [B.call(treenet.Sigmoid, args[0])]

        def to_sympy(self, args):
            import sympy
            return sympy.log(1 + sympy.exp(args[0]))
    return Softplus


def test_custom_op_end_to_end(registry):
    import sympy
    _softplus_full()
    net = parse("h = softplus(p(0.5)*x + p(-1)); h*h + y")
    point = {"x": 0.7, "y": -0.2}
    u = 0.5 * 0.7 - 1
    sp = math.log1p(math.exp(u))
    assert net.predict(point) == pytest.approx(sp * sp - 0.2, rel=1e-15)
    net.zero_grad()
    net.backward()
    dx = 2 * sp * (1 / (1 + math.exp(-u))) * 0.5
    assert net.inputs[0].grad == pytest.approx(dx, rel=1e-14)

    text = net.funcify()
    again = parse(text)
    assert again.funcify() == text
    assert again.predict([0.7, -0.2]) == net.predict([0.7, -0.2])
    saved = parse(net.funcify(params="p"))
    assert [p.value for p in saved.parameters] == [0.5, -1.0]

    assert r"\operatorname{softplus}" in treenet.latex(net)
    expr, values = treenet.to_sympy(net, values=True)
    assert float(expr.subs(values)) == pytest.approx(net.predict(point), rel=1e-14)
    x = sympy.Symbol("x", real=True)
    exact = float(sympy.diff(expr, x).subs(values))
    d = treenet.derivative(net, "x")
    assert d.predict(point) == pytest.approx(exact, rel=1e-13)
    assert d.predict(point) == pytest.approx(dx, rel=1e-14)
    report = treenet.gradcheck(net, point)
    assert report.ok, report
    with pytest.raises(treenet.ParseError, match="softplus takes 1 argument"):
        parse("softplus(x, y)")


# --- fast start --------------------------------------------------------------------------------

def test_ops_imports_without_sympy():
    # the package's __init__ imports the sympy bridge (another module's business), so load
    # treenet.ops under a bare package: only errors, nodes, ops and algebra run
    code = (
        "import sys, types\n"
        f"pkg = types.ModuleType('treenet'); pkg.__path__ = [{os.path.join(ROOT, 'treenet')!r}]\n"
        "sys.modules['treenet'] = pkg\n"
        "import treenet.ops as ops\n"
        "assert ops.Sigmoid.compute(None, [0.0]) == 0.5\n"
        "print('sympy' in sys.modules)\n"
        "ops.Tanh.to_sympy(None, [1])\n"
        "print('sympy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]  # imported when a sympy twin is asked for


def test_a_subclass_with_its_own_compute_inherits_no_shortcut():
    # code templates, the O(1) finite-difference update and the fused loss restate the parent's
    # compute; a subclass that changes compute must not run its parent's shortcuts
    from treenet import Add, Sigmoid, gradcheck, parse
    from treenet.ops import REGISTRY

    class DoubleSum(Add):
        """2*(a + b + ...)"""
        call, symbol, notation = "doublesum", None, "call"

        def compute(self, xs):
            return 2.0 * sum(xs)

        def partials(self, xs, out):
            return [2.0] * len(xs)

        def vjp(self, xs, out, g):
            return [2.0 * g] * len(xs)

    class Half(Sigmoid):
        """0.5 whatever the argument"""
        call = "half"

        def compute(self, xs):
            return 0.5

        def partials(self, xs, out):
            return [0.0]

    try:
        assert Add.owns("update", "compute") and not DoubleSum.owns("update", "compute")
        assert not DoubleSum.owns("code_value", "compute")
        assert Sigmoid.owns("fused_losses", "compute") and not Half.owns("fused_losses", "compute")
        terms = ", ".join(f"x{k}" for k in range(20))
        report = gradcheck(parse(f"doublesum({terms})"), list(range(20)), method="fd")
        assert report.ok and all(abs(row.fd - 2.0) < 1e-6 for row in report)
    finally:
        REGISTRY.pop("DoubleSum", None)
        REGISTRY.pop("Half", None)

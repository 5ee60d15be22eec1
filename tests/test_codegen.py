"""Code generation (treenet.codegen), in the order of issue 9's list: the ops' templates, both
targets against the interpreted engine on random programs (every op, shared nodes, macros,
vector outputs, kinks at exact ties and zeros) and on every example, the source run in a fresh
interpreter without treenet, hostile names, errors, and size."""

import importlib.util
import math
from pathlib import Path
import random
import re
import subprocess
import sys

import numpy as np
import pytest

import treenet
from treenet import EvaluationError, TreenetError
from treenet.generator import Compiled, codegen, compiled
from treenet.ops import REGISTRY
from treenet.templates import resolve

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# --- the ops carry their templates ------------------------------------------------------------

ELEMENTARY = [cls for name, cls in REGISTRY.items()
              if not issubclass(cls, treenet.Macro) and cls.__module__ == "treenet.ops"]


@pytest.mark.parametrize("cls", ELEMENTARY, ids=lambda c: c.__name__)
def test_every_op_has_value_and_vjp_templates_for_both_targets(cls):
    assert {"Cube", "Doubled", "Watched"}.isdisjoint(REGISTRY)
    lo, hi = cls.arity_range()
    for kind in ("python", "array"):
        for n in range(lo, (hi or lo + 3) + 1):
            assert resolve(cls.code_value, kind, n), (cls, kind, n)
            vjp = resolve(getattr(cls, "code_vjp", None), kind, n)
            vjp_all = resolve(getattr(cls, "code_vjp_all", None), kind, n)
            assert vjp is not None or vjp_all is not None, (cls, kind, n)
            if isinstance(vjp, tuple):
                assert len(vjp) == n


# The user's ops below set no `call` or `symbol` of their own, so they stay out of the registry
# (and out of the other tests, which push every registered op through their checks).

class Cube(treenet.Operation):
    """cube(x) = x^3: a user's op, with no code templates."""

    def compute(self, xs):
        return xs[0] ** 3

    def partials(self, xs, out):
        return [3 * xs[0] ** 2]


class Doubled(treenet.Tanh):
    """A user's op that redefines tanh's value and inherits its templates (which would lie)."""

    def compute(self, xs):
        return 2 * xs[0]

    def partials(self, xs, out):
        return [2.0]


@pytest.mark.parametrize("op", [Cube, Doubled])
def test_op_without_its_own_templates_is_refused_and_compiled_runs_the_engine(op):
    x = treenet.Input(name="x")
    net = treenet.Add([op([x]), treenet.Constant(1.0)])
    for target in ("python", "numpy"):
        with pytest.raises(TreenetError, match=op.__name__):
            codegen(net, target)
    c = compiled(net)
    assert c.source is None and op.__name__ in c.reason
    value, gx, gp = c.value_and_grad([0.5])
    net.predict([0.5])
    assert value == net.forward() and gx == [op([treenet.Constant(0.5)]).partials([0.5], 0)[0]]
    values, gxs, _ = compiled(net, "numpy").value_and_grad(np.array([[0.5], [2.0]]))
    assert values.tolist() == [net.predict([0.5]), net.predict([2.0])]


class Watched(treenet.Tanh):
    """tanh that records the derivatives backward hands it (a tutorial's hook)."""
    seen = []

    def on_backward(self, derivative):
        self.seen.append(derivative)


def test_network_with_backward_hooks_runs_on_the_engine_so_the_hooks_are_called():
    x = treenet.Input(name="x")
    net = treenet.Multiply([Watched([x]), treenet.Constant(3.0)])
    c = compiled(net)
    assert c.source is None and "on_backward" in c.reason
    assert c.value_and_grad([0.5])[0] == 3.0 * math.tanh(0.5)
    assert Watched.seen == [3.0]


# --- random programs: both targets against the engine ---------------------------------------

# {a}, {b}, {c}: sub-expressions. Domains are kept (log, division, variable exponents), and the
# kinks appear at exact zeros and ties: relu(0*a), abs(a - a), max(a, a), step and sign of 0.
TEMPLATES = [
    "{a} + {b}", "{a} + {b} + {c}", "{a} - {b}", "{a} * {b}", "{a} * {b} * {c}",
    "{a} / (1.5 + tanh({b}))", "-{a}", "{a} ^ 2", "{a} ^ 3", "(1.5 + tanh({a})) ^ tanh({b})",
    "relu({a})", "sigmoid({a})", "tanh({a})", "exp(tanh({a}))", "log(1.5 + tanh({a}))",
    "abs({a})", "step({a}) * {b}", "sign({a}) * {b}", "max({a}, {b})", "min({a}, {b}, {c})",
    "max({a}, {b}, {c}, {a})", "linear({a}, {b})", "linear(dense(2, {a}, {b}))",
    "neuron({a}, {b})", "p * {a} + p", "p(0.5) * {a}",
    # kinks, exactly
    "relu(0 * {a})", "abs({a} - {a})", "max({a}, {a})", "min({b}, {a}, {b})",
    "step({a} - {a}) + {b}", "sign(0 * {a}) * {b}", "relu(p(0) * {a}) + {b}",
    # constants to fold
    "(2 * 3 - 1.5) * {a}", "{a} + exp(1) / 4",
]


def program(seed, templates=TEMPLATES):
    """(source, inputs): a random program of shared bindings, macros and every op, whose output
    is a scalar, a vector or a softmax."""
    rng = random.Random(seed)
    inputs = ["x", "y", "z"][:rng.randint(1, 3)]
    lines = ["def neuron(u, v) = tanh(p*u + p*v + p)"]
    pool = list(inputs)

    def expr(depth):
        if depth == 0 or rng.random() < 0.25:
            return rng.choice(pool + ["p", "0.5", "-2"]) if rng.random() < 0.9 else "x"
        t = rng.choice(templates)
        parts = {k: expr(depth - 1) for k in "abc" if "{" + k + "}" in t}
        return "(" + t.format(**parts) + ")"

    for k in range(rng.randint(1, 4)):
        lines.append(f"h{k} = {expr(2)}")
        pool += [f"h{k}"] * 2  # bindings picked often: shared sub-expressions
    out = expr(3)
    shape = rng.random()
    if shape < 0.15:
        out = f"[{out}, {expr(2)}, {expr(1)}]"
    elif shape < 0.3:
        out = f"softmax({out}, {expr(2)})"
    lines.append(out)
    return "\n".join(lines), inputs


def engine(net, point, d):
    """(value, input grads, parameter grads) from the interpreted engine."""
    value = net.predict(point)
    net.zero_grad()
    net.backward(d)
    return value, [i.grad for i in net.inputs], [q.grad for q in net.parameters]


def _nets(count, offset=0):
    for seed in range(offset, offset + count):
        source, _ = program(seed)
        net = treenet.parse(source, seed=seed)
        rng = random.Random(seed)
        points = [[rng.uniform(-1.5, 1.5) for _ in net.inputs] for _ in range(4)]
        points.append([0.0] * len(net.inputs))  # zeros: the kinks of relu, abs, step, sign
        k = len(net.graph.output.children) if net.graph.vector_output else None
        ds = [rng.uniform(-2, 2) if k is None else [rng.uniform(-2, 2) for _ in range(k)]
              for _ in points]
        yield seed, source, net, points, ds


def _flat(v):
    return list(v) if isinstance(v, (list, tuple, np.ndarray)) else [v]


def test_python_target_agrees_with_the_engine_to_the_bit_on_random_programs():
    compared = 0
    for seed, source, net, points, ds in _nets(150):
        c = compiled(net, "python")
        assert c.source is not None
        for point, d in zip(points, ds):
            where = f"seed {seed} at {point}:\n{source}"
            expected = engine(net, point, d)
            got = c.value_and_grad(point, d=d)
            assert _flat(got[0]) == _flat(expected[0]), where
            assert got[1] == expected[1] and got[2] == expected[2], where
            assert _flat(c.forward(point)) == _flat(expected[0]), where
            compared += 1
    assert compared == 750


def _close(a, b, scale, rel=1e-12):
    return abs(a - b) <= rel * scale + 1e-300


class ExactNumpy:
    """numpy with exp, log, tanh and power taken from math, element by element (numpy's own
    differ from math's by an ulp or two), and numpy's result where math refuses (log(0) is -inf):
    run under it, the numpy target must give the engine's numbers to the bit."""

    def __getattr__(self, name):
        return getattr(np, name)

    def _each(f, fallback):
        def each(*args):
            args = np.broadcast_arrays(*[np.asarray(a, dtype=float) for a in args])
            out = np.empty(args[0].shape)
            for k in np.ndindex(out.shape):
                xs = [float(a[k]) for a in args]
                try:
                    out[k] = f(*xs)
                except (ValueError, OverflowError, ZeroDivisionError):
                    with np.errstate(all="ignore"):
                        out[k] = fallback(*xs)
            return out if out.shape else out[()]
        return staticmethod(each)

    exp, log = _each(math.exp, np.exp), _each(math.log, np.log)
    tanh, power = _each(math.tanh, np.tanh), _each(math.pow, np.power)


def exact_numpy(net, layers=False):
    """The network's numpy target, run with ExactNumpy."""
    c = Compiled(net, net.graph, "numpy", layers)
    for name in ("forward", "value_and_grad"):
        c._function(name).__globals__["np"] = ExactNumpy()
    return c


def _check_numpy(c, net, points, ds, where, rel):
    per = [engine(net, point, d) for point, d in zip(points, ds)]
    batch = np.array(points).reshape(len(points), -1)
    values, gx, gp = c.value_and_grad(batch, d=np.array(ds))
    for s, (value, gxs, _) in enumerate(per):
        for a, b in zip(_flat(values[s]), _flat(value)):
            assert _close(a, b, abs(b), rel), where
        for a, b in zip(gx[s], gxs):
            assert _close(a, b, abs(b), rel), where
    for k in range(len(net.parameters)):
        terms = [r[2][k] for r in per]  # the batch's sum, in another order than fsum's
        assert _close(gp[k], math.fsum(terms), sum(map(abs, terms)), max(rel, 1e-15)), where
    assert np.array_equal(c.forward(batch), values)


def test_numpy_target_computes_the_engines_numbers_on_random_programs():
    for seed, source, net, points, ds in _nets(100, offset=1000):
        _check_numpy(exact_numpy(net), net, points, ds, f"seed {seed}:\n{source}", rel=0.0)


def test_numpy_target_with_numpys_own_functions_agrees_with_the_engine():
    # numpy's exp, tanh, log and power round differently from math's in the last bit or two;
    # most programs still agree to 1e-12, but 1 - tanh(big)^2 and the like amplify an ulp
    far = 0
    for seed, source, net, points, ds in _nets(150, offset=1000):
        c = compiled(net, "numpy")
        assert c.source is not None
        try:
            _check_numpy(c, net, points, ds, "", rel=1e-12)
        except AssertionError:
            far += 1
            _check_numpy(c, net, points, ds, f"seed {seed}:\n{source}", rel=1e-6)
    assert far <= 5


def test_numpy_layers_are_matrix_products_that_agree_with_the_engine():
    layered = 0
    for seed, source, net, points, ds in _nets(100, offset=1000):
        c = exact_numpy(net, layers=True)
        layered += bool(c._generator.layers)
        _check_numpy(c, net, points, ds, f"seed {seed}:\n{source}", rel=1e-12)
    assert layered >= 10


def test_numpy_layers_read_as_matrix_products():
    net = treenet.parse("softmax(dense(3, tanh(dense(4, x, y))))", seed=0)
    text = codegen(net, "numpy", layers=True)
    for line in ("z_L0 = a_L0 @ w_L0.T + b_L0", "z_L1 = a_L1 @ w_L1.T + b_L1",
                 "gw_L1 = gz_L1.T @ a_L1", "ga_L1 = gz_L1 @ w_L1", "gb_L0 = gz_L0.sum(axis=0)"):
        assert line in text
    assert not re.search(r"p\d+ \* ", text)  # no unit is written out product by product
    with pytest.raises(TreenetError, match="numpy"):
        codegen(net, "python", layers=True)


def test_chunked_code_agrees_with_the_engine(monkeypatch):
    # the size rule's chunks, made tiny so every program is split many times
    monkeypatch.setattr(sys.modules["treenet.generator"], "CHUNK", 5)
    chunked = 0
    for seed, source, net, points, ds in _nets(40, offset=2000):
        for target in ("python", "numpy"):
            chunked += "def _value_and_grad_3(" in codegen(net, target)
            if target == "numpy":
                _check_numpy(exact_numpy(net), net, points, ds, source, rel=0.0)
                _check_numpy(exact_numpy(net, True), net, points, ds, source, rel=1e-12)
                continue
            c = Compiled(net, net.graph, target)
            for point, d in zip(points, ds):
                assert c.value_and_grad(point, d=d) == engine(net, point, d), source
    assert chunked >= 50


@pytest.mark.parametrize("source", [
    "softmax(p(1), p(2), x)", "[p(0.5), tanh(p(0.1))]", "max(p(1), p(1), x) + min(p(2), p(3))",
    "p(0.5)", "x", "2 * 3", "input x, y\n[x, x, 1]"])
def test_numpy_target_broadcasts_values_that_do_not_depend_on_the_inputs(source):
    net = treenet.parse(source)
    rng = random.Random(1)
    points = [[rng.uniform(-1, 1) for _ in net.inputs] for _ in range(3)]
    k = len(net.graph.output.children) if net.graph.vector_output else None
    ds = [rng.uniform(-2, 2) if k is None else [rng.uniform(-2, 2) for _ in range(k)]
          for _ in points]
    _check_numpy(exact_numpy(net), net, points, ds, source, rel=0.0)


KINKS = [  # (program, point, d(output)/d each input): the conventions, written out
    ("relu(x)", [0.0], [0.0]),
    ("abs(x)", [0.0], [0.0]),
    ("step(x) + sign(x)", [0.0], [0.0]),
    ("max(x, y)", [1.0, 1.0], [1.0, 0.0]),   # a tie: the whole gradient to the first
    ("input x, y\nmax(y, x)", [1.0, 1.0], [0.0, 1.0]),
    ("min(x, y, x)", [2.0, 2.0], [1.0, 0.0]),
    ("max(x, y, x, y)", [1.0, 3.0], [0.0, 1.0]),
    ("input x, y\nmin(y, x)", [-1.0, -1.0], [0.0, 1.0]),
    ("max(x, x)", [0.5], [1.0]),
]


@pytest.mark.parametrize("source, point, grads", KINKS)
def test_kink_conventions_hold_in_both_targets(source, point, grads):
    net = treenet.parse(source)
    _, gx, _ = compiled(net).value_and_grad(point)
    assert gx == grads
    _, gx, _ = compiled(net, "numpy").value_and_grad(np.array([point, point]))
    assert gx.tolist() == [grads, grads]


def test_sigmoid_and_softmax_do_not_overflow_at_1000():
    net = treenet.parse("[sigmoid(x), sigmoid(-x), x]")
    soft = treenet.parse("softmax(x, -x, 0.5*x)")
    for x in (1000.0, -1000.0):
        assert compiled(net).forward([x]) == net.predict([x])
        assert compiled(soft).forward([x]) == soft.predict([x])
        assert np.allclose(compiled(soft, "numpy").forward(np.array([[x]]))[0], soft.predict([x]),
                           rtol=1e-12, atol=0)
    assert compiled(net).forward([1000.0]) == [1.0, 0.0, 1000.0]
    assert compiled(net, "numpy").forward(np.array([[1000.0]])).tolist() == [[1.0, 0.0, 1000.0]]
    assert compiled(soft).forward([1000.0]) == [1.0, 0.0, math.exp(-500.0)]  # e^0, e^-2000, e^-500
    grads = compiled(soft, "numpy").value_and_grad(np.array([[1000.0], [-1000.0]]), d=[1, 0, 0])
    assert np.isfinite(grads[1]).all()


def test_source_reads_like_code_a_person_would_write():
    net = treenet.parse("input x, y\nhidden = tanh(p*x + 2*3)\nhidden*hidden + log(4) * hidden",
                        seed=0)
    for target, call in (("python", "math.tanh("), ("numpy", "np.tanh(")):
        text = codegen(net, target)
        forward = text.split("def forward")[1].split("def value_and_grad")[0]
        assert forward.count(call) == 1 and "  # hidden" in forward  # the shared node, once
        assert "  # x" in forward and forward.count("# output") == 1
        assert "6.0" in forward and "2.0" not in forward and "3.0" not in forward  # 2*3 folded
        assert repr(math.log(4)) in forward and "log(" not in text  # log(4) folded
        assert "x[1]" not in text and "x[:, 1]" not in text  # y is never read
        defined = re.findall(r"^ +(g_\w+) =", text, re.M)
        assert defined and all(re.fullmatch(r"g_[vxp]\d+", g) for g in defined)
        lines = [ln for ln in forward.splitlines() if re.match(r" +v\d+ = ", ln)]
        assert len(lines) == 6  # p*x, + 6, tanh, *, log(4)*, +: one line per node
    assert compiled(net).value_and_grad([0.5, 7.0])[1][1] == 0.0


# --- every example ----------------------------------------------------------------------------

def _load(name):
    spec = importlib.util.spec_from_file_location(f"codegen_example_{name}",
                                                  EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SHORT = {"celsius_and_line": dict(epochs=1, samples=20), "two_layer_mlp": dict(epochs=1),
         "xor": dict(epochs=1), "softmax_blobs": dict(epochs=1)}


def example_networks(monkeypatch):
    """Every network the examples build (each treenet.parse call and each network their main
    returns), run short; an example that trains on an optional engine (DDP) gives its FORMULA."""
    made, real = [], treenet.parse

    def recording(*args, **kw):
        net = real(*args, **kw)
        made.append(net)
        return net

    monkeypatch.setattr(treenet, "parse", recording)
    for name in sorted(p.stem for p in EXAMPLES.glob("*.py")):
        module = _load(name)
        if getattr(module, "EXTRA", None):
            made.append(real(module.FORMULA, seed=0))
            continue
        result = module.main(quiet=True, **SHORT.get(name, {}))
        made += [v for v in result.values() if isinstance(v, treenet.NeuralNetNode)]
    return made


def test_every_example_network_agrees_in_both_targets(monkeypatch):
    names = sorted(p.stem for p in EXAMPLES.glob("*.py"))
    made = example_networks(monkeypatch)
    assert len(names) >= 6 and len(made) >= 12
    for net in made:
        rng = random.Random(net.funcify())  # its points do not move when an example is added
        points = [[rng.uniform(-2, 2) for _ in net.inputs] for _ in range(3)]
        k = len(net.graph.output.children) if net.graph.vector_output else None
        ds = [rng.uniform(-2, 2) if k is None else [rng.uniform(-2, 2) for _ in range(k)]
              for _ in points]
        for point, d in zip(points, ds):
            assert compiled(net).value_and_grad(point, d=d) == engine(net, point, d)
        _check_numpy(exact_numpy(net), net, points, ds, repr(net), rel=0.0)
        _check_numpy(exact_numpy(net, layers=True), net, points, ds, repr(net), rel=1e-12)
        # numpy's own tanh differs from math's in the last bit, which 1 - tanh^2 amplifies
        _check_numpy(compiled(net, "numpy"), net, points, ds, repr(net), rel=1e-6)


# --- the source stands alone ------------------------------------------------------------------

def test_generated_source_runs_in_a_fresh_interpreter_without_treenet(tmp_path):
    net = treenet.parse("h = relu(p*x + p*y + p)\n[sigmoid(p*h + p), max(h, x) / (2 + tanh(y))]",
                        seed=3)
    point, p = [0.25, -0.5], [q.value for q in net.parameters]
    for target in ("python", "numpy"):
        path = tmp_path / f"net_{target}.py"
        path.write_text(codegen(net, target))
        x = repr([point]) if target == "numpy" else repr(point)
        d = "[[1.0, 0.5]]" if target == "numpy" else "[1.0, 0.5]"
        script = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import net_{target} as m\n"
                  "assert 'treenet' not in sys.modules\n"
                  f"v, gx, gp = m.value_and_grad({x}, {p!r}, {d})\n"
                  "import numpy\n"
                  "print(repr([numpy.asarray(a).tolist() for a in (v, gx, gp)]))\n")
        out = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True,
                             text=True, cwd=tmp_path, timeout=60)
        assert out.returncode == 0, out.stderr
        value, gx, gp = eval(out.stdout)
        expected = engine(net, point, [1.0, 0.5])
        if target == "python":
            assert (value, gx, gp) == (expected[0], expected[1], expected[2])
        else:
            assert np.allclose(value[0], expected[0], rtol=1e-12, atol=0)
            assert np.allclose(gx[0], expected[1], rtol=1e-12, atol=1e-300)
            assert np.allclose(gp, expected[2], rtol=1e-12, atol=1e-300)


HOSTILE = ["x'); import os; os.system('echo pwned') #", 'a"b', "line\nbreak",
           "__import__('os').system('true')", "v0", "g_v3", "s", "check", "x0", "\\", "{0}"]


def test_hostile_names_never_reach_the_source():
    inputs = [treenet.Input(name=name) for name in HOSTILE]
    weight = treenet.Parameter(0.5, name="w'); raise SystemExit('boom")
    clean = treenet.Parameter(0.25, name="bias")
    net = treenet.Add([treenet.Multiply([weight, inputs[0]])] + inputs[1:] + [clean])
    net.compile()
    for target in ("python", "numpy"):
        text = codegen(net, target)
        for name in HOSTILE[:4] + ["w'); raise SystemExit('boom", "os.system", "SystemExit"]:
            assert name not in text, (target, name)
        assert "# bias" in text  # a plain identifier may appear, in a comment only
        assert "= bias" not in text and "bias =" not in text
    point = [float(k) for k in range(len(HOSTILE))]
    assert compiled(net).value_and_grad(point) == engine(net, point, 1.0)


# --- errors -----------------------------------------------------------------------------------

def _engine_error(net, point):
    with pytest.raises(EvaluationError) as info:
        net.predict(point)
        net.zero_grad()
        net.backward()
    return str(info.value)


@pytest.mark.parametrize("source, point", [
    ("log(x) + y", [0.0, 1.0]),                      # a domain error
    ("h = x / (y - 1)\nh * 2", [1.0, 1.0]),          # division by zero
    ("relu(-(x*x*x)) + y", [1e200, 1.0]),            # an overflow relu would hide (-inf -> 0)
    ("max(x*x*x, y)", [-1e200, 1.0]),                # -inf that max would hide
    ("tanh(exp(x))", [1000.0]),                      # exp overflows, tanh would hide it
    ("log(x) + sigmoid(x)", [1e-320]),               # the gradient 1/x is infinite
])
def test_errors_are_the_engines_in_both_targets(source, point):
    net = treenet.parse(source)
    message = _engine_error(net, point)
    for call in ("forward", "value_and_grad"):
        if call == "forward" and "1e-320" in repr(point):
            continue  # the value is fine, only the gradient fails
        with pytest.raises(EvaluationError) as info:
            getattr(compiled(net), call)(point)
        assert str(info.value) == message
        good = [0.5] * len(point)
        with pytest.raises(EvaluationError) as info:
            getattr(compiled(net, "numpy"), call)(np.array([good, point, point]))
        assert info.value.sample == 1 and str(info.value) == f"sample 1: {message}"


# templates that leave their domain or overflow, some behind an op that would hide the inf or nan
FAILING = TEMPLATES + [
    "log({a})", "{a} / {b}", "{a} ^ {b}", "exp({a} * 300)", "{a} * 1e200 * {b} * 1e200",
    "relu({a} * 1e300 * 1e300)", "tanh({a} * 1e308 * 10)", "max(log({a}), {b})"]


def test_errors_on_random_programs_are_the_engines_in_both_targets():
    failures = 0
    for seed in range(3000, 3080):
        source, _ = program(seed, FAILING)
        net = treenet.parse(source, seed=seed)
        rng = random.Random(seed)
        points = [[rng.uniform(-1.5, 1.5) for _ in net.inputs] for _ in range(4)]
        points.append([0.0] * len(net.inputs))
        k = len(net.graph.output.children) if net.graph.vector_output else None
        d = 1.0 if k is None else [1.0] * k
        first = None
        for s, point in enumerate(points):
            try:
                expected = engine(net, point, d)
            except EvaluationError as exc:
                failures += 1
                first = first or (s, str(exc))
                with pytest.raises(EvaluationError) as info:
                    compiled(net).value_and_grad(point, d=d)
                assert str(info.value) == str(exc), source
            else:
                assert compiled(net).value_and_grad(point, d=d) == expected, source
        batch = np.array(points).reshape(len(points), -1)
        for layers in (False, True):
            c = compiled(net, "numpy", layers=layers)
            if first is None:
                c.value_and_grad(batch, d=1.0 if k is None else np.ones(k))
                continue
            with pytest.raises(EvaluationError) as info:
                c.value_and_grad(batch, d=1.0 if k is None else np.ones(k))
            assert (info.value.sample, str(info.value)) == (first[0],
                                                            f"sample {first[0]}: {first[1]}")
    assert failures >= 100  # about a third of the points fail


def test_log_of_zero_in_a_batch_names_the_sub_expression_and_the_first_sample():
    net = treenet.parse("input x, y\nh = log(x*y)\nh + y")
    batch = np.array([[1.0, 2.0], [3.0, 0.5], [0.0, 1.0], [2.0, 0.0]])
    with pytest.raises(EvaluationError) as info:
        compiled(net, "numpy").forward(batch)
    assert info.value.sample == 2
    assert "log of a non-positive number" in str(info.value)
    assert info.value.expression == "log(x*y)"


def test_a_non_finite_share_the_engine_skips_is_not_an_error():
    # relu's derivative is 0 below 0, so the engine never reaches log's infinite 1/x; the code
    # computes 0 * inf = nan there, raises, and the engine gives the right (finite) answer
    net = treenet.parse("relu(-1 - log(x)*0) + x")
    point = [1e-320]
    expected = engine(net, point, 1.0)
    assert compiled(net).value_and_grad(point) == expected
    v, gx, gp = compiled(net, "numpy").value_and_grad(np.array([[0.5], point]))
    assert gx[1].tolist() == expected[1] and v[1] == expected[0]


def test_bad_inputs_are_the_engines_errors():
    net = treenet.parse("input x, y\nx + 1")  # y unused: its value is checked all the same
    message = _engine_error(net, [1.0, math.inf])
    with pytest.raises(EvaluationError, match="inf"):
        compiled(net).forward([1.0, math.inf])
    with pytest.raises(EvaluationError) as info:
        compiled(net, "numpy").forward(np.array([[1.0, 2.0], [1.0, math.inf]]))
    assert str(info.value) == f"sample 1: {message}"
    with pytest.raises(EvaluationError, match="expected 2 input"):
        compiled(net).forward([1.0])
    with pytest.raises(TreenetError, match="shape"):
        compiled(net, "numpy").forward(np.zeros((3, 3)))
    with pytest.raises(TreenetError, match="numpy"):
        codegen(net, "numpi")


# --- caching and size -------------------------------------------------------------------------

def test_compiled_is_cached_until_a_recompile_or_a_changed_constant():
    net = treenet.parse("2 * x + 1")
    first = compiled(net)
    assert compiled(net) is first and compiled(net, "numpy") is not first
    net.compile()
    second = compiled(net)
    assert second is not first
    constant = next(n for n in net.graph.nodes if isinstance(n, treenet.Constant))
    constant.value = 5.0
    assert compiled(net) is not second
    assert compiled(net).forward([1.0]) == net.predict([1.0])


def test_a_100000_layer_chain_compiles_without_recursion_error():
    h = treenet.Input(name="x")
    for _ in range(100_000):
        h = treenet.Tanh([h])
    c = compiled(h)
    expected = 0.3
    for _ in range(100_000):
        expected = math.tanh(expected)
    assert c.forward([0.3]) == expected
    assert "value_and_grad" not in c._raw  # compiled on first use only
    parts = [name for name in c._raw["forward"].__globals__ if name.startswith("_forward_")]
    assert len(parts) > 100  # at most CHUNK statements a function: the size rule

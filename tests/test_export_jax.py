"""Issue 11, JAX: `to_jax(net)` is `(fn, params)`, fn(params, X) a pure function computing the
network (values, JAX gradients with treenet's kink conventions) under jit, grad, vmap and pmap,
and `from_jax` brings values back bit for bit; float64 only where the user turned x64 on."""

import subprocess
import sys

import numpy as np
import pytest

jax = pytest.importorskip("jax")  # an optional extra: CI installs it and allows no skip
import jax.numpy as jnp  # noqa: E402

import treenet
from treenet import TreenetError
from export_helpers import cases, check
from test_codegen import KINKS


@pytest.fixture
def x64():
    """JAX's x64 mode, on for the test and back as it was after (a global switch)."""
    before = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", before)


def run(fn, params, X, D):
    """(values, input gradients, parameter gradients in parameter order) by jax.vjp."""
    out, pull = jax.vjp(fn, params, jnp.asarray(X))
    gp, gx = pull(jnp.asarray(D, dtype=out.dtype))
    return np.asarray(out), np.asarray(gx), [float(gp[name]) for name in params]


def test_values_and_gradients_match_predict_and_backward_on_random_programs(x64):
    checked = 0
    for where, net, X, D, expected in cases(25):  # (eager JAX: ~0.1 s a program)
        fn, params = treenet.to_jax(net)
        assert list(params) == [q.name for q in net.parameters]
        check(where, net, run(fn, params, X, D), expected)
        checked += len(X)
    assert checked >= 100


@pytest.mark.parametrize("source, point, grads", KINKS + [
    ("abs(x) + x ^ 0", [0.0], [0.0]),        # jax's own abs'(0) is 1, d(0^0)/dx nan
    ("sigmoid(x)", [0.0], [0.25])])           # not abs's kink inside the stable form
def test_kink_conventions_hold_under_jax_grad(x64, source, point, grads):
    fn, params = treenet.to_jax(treenet.parse(source))
    gx = jax.grad(lambda x: fn(params, x).sum())(jnp.array([point, point]))
    assert np.asarray(gx).tolist() == [grads, grads]


def test_sigmoid_and_softmax_stay_finite_at_1e4(x64):
    for source in ("[sigmoid(x), sigmoid(-x), sigmoid(p * x)]", "softmax(x, -x, 0.5 * x)"):
        net = treenet.parse(source, seed=1)
        fn, params = treenet.to_jax(net)
        X = jnp.array([[1e4], [-1e4], [0.0]])
        assert np.allclose(fn(params, X), net.predict(np.asarray(X)), rtol=1e-12, atol=0)
        gx = jax.grad(lambda x: fn(params, x).sum())(X)
        assert np.isfinite(np.asarray(gx)).all()


def test_fn_is_pure_under_jit_grad_vmap_and_pmap(x64):
    net = treenet.parse("h = tanh(p*x + p*y + p)\nsoftmax(h, relu(h) * p, max(x, y))", seed=2)
    fn, params = treenet.to_jax(net)
    X = np.random.RandomState(0).uniform(-1, 1, (6, 2))
    expected = net.predict(X)
    assert np.allclose(jax.jit(fn)(params, X), expected, rtol=1e-12, atol=1e-15)
    # one row is one sample: vmap over the rows is the batch
    assert np.allclose(jax.vmap(fn, in_axes=(None, 0))(params, X), expected,
                       rtol=1e-12, atol=1e-15)
    batches = jax.pmap(fn, in_axes=(None, 0))(params, X.reshape(1, 6, 2))
    assert np.allclose(batches[0], expected, rtol=1e-12, atol=1e-15)
    loss = lambda ps: (fn(ps, X)[:, 0] ** 2).mean()  # noqa: E731
    g = jax.jit(jax.grad(loss))(params)
    assert list(g) == list(params) and all(np.isfinite(float(v)) for v in g.values())
    # the same parameters give the same output: nothing kept between calls
    assert np.array_equal(fn(params, X), fn(params, X))


def test_pmap_over_two_devices_in_a_subprocess():
    code = (
        "import jax, numpy as np, treenet\n"
        "jax.config.update('jax_enable_x64', True)\n"
        "net = treenet.parse('sigmoid(p*x + p*y + p)', seed=0)\n"
        "fn, params = treenet.to_jax(net)\n"
        "X = np.random.RandomState(0).uniform(-1, 1, (2, 5, 2))\n"
        "out = jax.pmap(fn, in_axes=(None, 0))(params, X)\n"
        "assert jax.device_count() == 2, jax.devices()\n"
        "assert np.allclose(out.reshape(-1), net.predict(X.reshape(-1, 2)), rtol=1e-12)\n"
        "print('ok')\n")
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": str(__import__("pathlib").Path(treenet.__file__).parent.parent),
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_from_jax_of_to_jax_is_bit_exact(x64):
    for where, net, _, _, _ in cases(30, offset=500):
        fn, params = treenet.to_jax(net)
        back = treenet.from_jax(net, params)
        assert back is not net
        assert back.funcify(params="p") == net.funcify(params="p"), where
        assert [q.value for q in back.parameters] == [q.value for q in net.parameters], where
        new = {name: jnp.asarray(k / 7 - 1.0) for k, name in enumerate(params)}
        assert [q.value for q in treenet.from_jax(net, new).parameters] == \
            [k / 7 - 1.0 for k in range(len(params))], where
        assert [q.value for q in net.parameters] == [float(v) for v in params.values()]


def test_without_x64_the_parameters_are_float32_and_float64_is_refused():
    if jax.config.read("jax_enable_x64"):
        jax.config.update("jax_enable_x64", False)
    net = treenet.parse("p(0.1) * x")
    fn, params = treenet.to_jax(net)
    assert params["p0"].dtype == jnp.float32
    assert fn(params, np.ones((3, 1))).dtype == jnp.float32
    with pytest.raises(TreenetError, match=r"x64 mode.*jax.config.update\('jax_enable_x64'"):
        treenet.to_jax(net, dtype="float64")
    assert not jax.config.read("jax_enable_x64")  # to_jax left it alone
    # a float32 value comes back as the float64 it is, exactly
    assert treenet.from_jax(net, params).parameters[0].value == float(np.float32(0.1))


def test_with_x64_the_default_is_float64(x64):
    fn, params = treenet.to_jax(treenet.parse("p(0.1) * x"))
    assert params["p0"].dtype == jnp.float64 and float(params["p0"]) == 0.1
    _, params32 = treenet.to_jax(treenet.parse("p(0.1) * x"), dtype="float32")
    assert params32["p0"].dtype == jnp.float32


def test_without_jax_the_error_names_the_extra(monkeypatch):
    net = treenet.parse("x")
    monkeypatch.setitem(sys.modules, "jax", None)
    monkeypatch.setitem(sys.modules, "jax.numpy", None)
    with pytest.raises(TreenetError, match=r"pip install 'treenet\[jax\]'"):
        treenet.to_jax(net)


@pytest.mark.parametrize("call, message", [
    (lambda fn, ps, net: fn({"w": ps["w"]}, np.ones((2, 2))),
     "no value for parameter 'p0'; the parameters are w, p0"),
    (lambda fn, ps, net: treenet.from_jax(net, {"w": 1.0, "P0": 2.0}),
     r"no value for parameter 'p0' \(given 'P0': a misspelling\?\)"),
    (lambda fn, ps, net: treenet.from_jax(net, dict(ps, b=1.0)), "'b' is not a parameter"),
    (lambda fn, ps, net: treenet.from_jax(net, [1.0, 2.0]), "params must be a dict"),
    (lambda fn, ps, net: treenet.from_jax(net, {"w": np.ones(2), "p0": 1.0}),
     "parameter 'w' is .* of shape \\(2,\\)"),
    (lambda fn, ps, net: fn(ps, np.ones((2, 3))),
     r"rows of 2 input value\(s\) \(x, y\): expected shape \(n, 2\), got \(2, 3\)"),
    (lambda fn, ps, net: treenet.to_jax(net, dtype="int32"), "expected a float dtype"),
    (lambda fn, ps, net: treenet.from_jax(ps, net), "not a network"),
])
def test_wrong_arguments_are_treenet_errors(call, message):
    net = treenet.parse("w = p(0.5)\nw * x + p * y", seed=0)
    fn, params = treenet.to_jax(net)
    with pytest.raises(TreenetError, match=message):
        call(fn, params, net)

"""An adversarial user against the exports (issue 11): each test is one way they failed — a
float64 module silently computing in float32, a parameter of the wrong shape broadcast into a
wrong answer, raw torch/jax/numpy errors — and pins the fixed behaviour. PyTorch and JAX are
optional extras: without them this file skips (CI installs both and allows no skip)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

import treenet  # noqa: E402
from treenet import TreenetError  # noqa: E402


def neuron():
    return treenet.parse("w = p(0.5)\nsigmoid(w*x + p(0.25)*y + p(-1))")


# --- to_torch -------------------------------------------------------------------------------

def test_a_float64_module_fed_float32_rows_computes_in_float64():
    net = neuron()
    rows = [[0.1, 0.7], [1.3, -2.9]]
    want = [net.predict(dict(zip(["x", "y"], map(float, np.float32(r))))) for r in rows]
    got = treenet.to_torch(net)(torch.tensor(rows, dtype=torch.float32))
    assert got.dtype == torch.float64  # before: float32, 1e-8 off predict
    assert np.allclose(got.detach().numpy(), want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("batch", ["ab", None, [[1.0, 2.0], [3.0]],
                                   np.array([[1, "a"]], dtype=object),
                                   torch.tensor([[1 + 1j, 2.0]])])
def test_a_batch_that_is_not_real_numbers_is_a_treenet_error(batch):
    with pytest.raises(TreenetError, match="the module takes"):
        treenet.to_torch(neuron())(batch)


def test_a_batch_on_another_device_is_a_treenet_error():
    module = treenet.to_torch(neuron()).to("meta")
    with pytest.raises(TreenetError, match="parameters are on meta, X is on cpu"):
        module(torch.tensor([[1.0, 2.0]], dtype=torch.float64))


def test_from_torch_of_a_diverged_module_names_the_parameter():
    module = treenet.to_torch(neuron())
    with torch.no_grad():
        module.w.fill_(float("nan"))
    with pytest.raises(TreenetError, match="from_torch: parameter 'w' is nan"):
        treenet.from_torch(module)


# --- to_jax ---------------------------------------------------------------------------------

def test_jax_fn_refuses_a_parameter_that_is_not_one_number():
    fn, params = treenet.to_jax(neuron())
    params["w"] = jnp.ones(3)  # before: broadcast, 3 outputs for 1 row
    with pytest.raises(TreenetError, match="parameter 'w' has shape \\(3,\\)"):
        fn(params, [[1.0, 2.0]])


def test_jax_fn_of_a_batch_that_is_not_numbers_is_a_treenet_error():
    fn, params = treenet.to_jax(neuron())
    with pytest.raises(TreenetError, match="fn takes a batch of numbers"):
        fn(params, "ab")


def test_from_jax_inside_jit_is_a_treenet_error():
    net = neuron()
    _, params = treenet.to_jax(net)
    with pytest.raises(TreenetError, match="not a concrete value"):
        jax.jit(lambda p: treenet.from_jax(net, p).predict([1.0, 2.0]))(params)


def test_from_jax_of_infinite_values_names_the_parameter():
    net = neuron()
    _, params = treenet.to_jax(net)
    with pytest.raises(TreenetError, match="from_jax: parameter 'p0' is inf"):
        treenet.from_jax(net, {**params, "p0": np.inf})

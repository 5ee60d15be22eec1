"""Issue 11, PyTorch: `to_torch(net)` is a torch module computing the network (values, autograd
gradients with treenet's kink conventions), whose parameters are the network's by name, which
moves, trains with torch optimizers, compiles and runs under DistributedDataParallel, and
`from_torch` brings it back bit for bit; in the order of the issue's list."""

import random
import re
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # an optional extra: CI installs it and allows no skip

import treenet
from treenet import TreenetError, arrayfn
from export_helpers import cases, check
from test_codegen import KINKS

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def run(module, X, D):
    """(values, input gradients, parameter gradients) of the module on the batch X, seeded
    with the upstream derivatives D, by torch's autograd."""
    x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    out = module(x)
    module.zero_grad()
    if out.requires_grad:  # (a network of constants only has nothing to differentiate)
        (out * torch.tensor(D, dtype=torch.float64)).sum().backward()
    gp = [0.0 if q.grad is None else q.grad.item() for q in module.parameters()]
    # an input the output does not read gets no gradient from torch: 0 in treenet
    gx = np.zeros(X.shape) if x.grad is None else x.grad.numpy()
    return out.detach().numpy(), gx, gp


def test_values_and_gradients_match_predict_and_backward_on_random_programs():
    checked = 0
    for where, net, X, D, expected in cases(150):
        module = treenet.to_torch(net)
        check(where, net, run(module, X, D), expected)
        assert np.array_equal(module(torch.tensor(X)).detach().numpy(), net.predict(X)) or \
            np.allclose(module(torch.tensor(X)).detach().numpy(), net.predict(X),
                        rtol=1e-12, atol=1e-12), where
        checked += len(X)
    assert checked >= 600


def test_dense_layers_export_as_matrix_products_that_agree_with_the_engine():
    """arrayfn writes a layer of units p*a + ... + p as A @ W + b (and tanh of a whole layer as
    one call): the random programs whose source has such a layer still match the engine."""
    layered = 0
    for where, net, X, D, expected in cases(200, offset=1000):
        layered += "@" in arrayfn.source(net.graph)
        check(where, net, run(treenet.to_torch(net), X, D), expected)
    assert layered >= 10


def test_a_dense_network_reads_as_matrix_products_not_one_product_per_weight():
    net = treenet.parse("softmax(dense(3, tanh(dense(4, x, y))))", seed=0)
    text = arrayfn.source(net.graph)
    assert "z_L0 = a_L0 @ w_L0 + " in text and "h_L0 = xp.tanh(z_L0)" in text
    assert "z_L1 = a_L1 @ w_L1 + " in text
    assert not re.search(r"p\[\d+\] \* ", text)  # no unit written out weight by weight
    assert len(text.splitlines()) < 40


@pytest.mark.parametrize("source, point, grads", KINKS)
def test_kink_conventions_hold_under_torch_autograd(source, point, grads):
    net = treenet.parse(source)
    _, gx, _ = run(treenet.to_torch(net), np.array([point, point]), np.ones(2))
    assert gx.tolist() == [grads, grads]


def test_pow_at_zero_to_the_zero_has_treenets_derivative():
    net = treenet.parse("x ^ 0 + p(0) ^ 2")
    _, gx, gp = run(treenet.to_torch(net), np.array([[0.0]]), np.ones(1))
    assert gx.tolist() == [[0.0]] and gp == [0.0]


def test_sigmoid_and_softmax_stay_finite_at_1e4():
    net = treenet.parse("[sigmoid(x), sigmoid(-x), sigmoid(p * x)]")
    soft = treenet.parse("softmax(x, -x, 0.5 * x)")
    X = np.array([[1e4], [-1e4], [0.0]])
    for n in (net, soft):
        module = treenet.to_torch(n)
        x = torch.tensor(X, requires_grad=True)
        out = module(x)
        assert np.allclose(out.detach().numpy(), n.predict(X), rtol=1e-12, atol=0)
        out.sum().backward()
        assert torch.isfinite(x.grad).all()
    # sigmoid'(0) is 1/4, not abs's kink
    _, gx, _ = run(treenet.to_torch(treenet.parse("sigmoid(x)")), np.array([[0.0]]), np.ones(1))
    assert gx.tolist() == [[0.25]]


def test_parameters_are_the_networks_by_name_and_order():
    net = treenet.parse("w = p(0.25)\nb = p(-1)\ntanh(w*x + p*y + b)", seed=3)
    module = treenet.to_torch(net)
    named = dict(module.named_parameters())
    assert list(named) == [q.name for q in net.parameters] == ["w", "b", "p0"]
    assert [t.item() for t in named.values()] == [q.value for q in net.parameters]
    assert all(t.dtype == torch.float64 and t.dim() == 0 for t in named.values())


def test_a_scalar_output_is_n_and_a_vector_output_n_by_k():
    X = torch.zeros((5, 2), dtype=torch.float64)
    assert treenet.to_torch(treenet.parse("x * y")).forward(X).shape == (5,)
    assert treenet.to_torch(treenet.parse("[x, y, 1, p]")).forward(X).shape == (5, 4)
    assert treenet.to_torch(treenet.parse("input x, y\np(2)")).forward(X).tolist() == [2.0] * 5


def test_from_torch_of_to_torch_is_bit_exact():
    for where, net, X, _, _ in cases(30, offset=500):
        module = treenet.to_torch(net)
        back = treenet.from_torch(module)
        assert back is not net
        assert back.funcify(params="p") == net.funcify(params="p"), where
        assert [i.name for i in back.inputs] == [i.name for i in net.inputs], where
        assert [q.name for q in back.parameters] == [q.name for q in net.parameters], where
        assert [q.value for q in back.parameters] == [q.value for q in net.parameters], where
        # new values come back exactly, whatever they are
        rng = random.Random(len(where))
        new = [rng.uniform(-3, 3) / 7 for _ in net.parameters]
        with torch.no_grad():
            for t, v in zip(module.parameters(), new):
                t.fill_(v)
        assert [q.value for q in treenet.from_torch(module).parameters] == new, where


def test_from_torch_keeps_declared_inputs_and_the_exported_constants():
    net = treenet.parse("input x, y, z\nc = 2\ny * c")
    module = treenet.to_torch(net)
    next(n for n in net.graph.nodes if isinstance(n, treenet.Constant)).value = 5.0
    back = treenet.from_torch(module)
    assert [i.name for i in back.inputs] == ["x", "y", "z"]
    assert back.predict([0.0, 1.0, 0.0]) == 2.0


def _data(n=8):
    rng = random.Random(4)
    return [([rng.uniform(-1, 1), rng.uniform(-1, 1)], rng.uniform(0, 1)) for _ in range(n)]


@pytest.mark.parametrize("batch_size", [1, 4])
def test_torch_sgd_steps_match_treenet_train_with_sgd(batch_size):
    source = "sigmoid(p*relu(p*x + p*y + p) + p)"
    net = treenet.parse(source, seed=2)
    module = treenet.to_torch(treenet.parse(source, seed=2))
    data = _data()
    treenet.train(net, data, loss="mse", optimizer="sgd", lr=0.5, epochs=3,
                  batch_size=batch_size, shuffle=False, progress=False)
    opt = torch.optim.SGD(module.parameters(), lr=0.5)
    X = torch.tensor([x for x, _ in data], dtype=torch.float64)
    T = torch.tensor([t for _, t in data], dtype=torch.float64)
    for _ in range(3):
        for start in range(0, len(data), batch_size):
            opt.zero_grad()
            loss = ((module(X[start:start + batch_size]) - T[start:start + batch_size]) ** 2).mean()
            loss.backward()
            opt.step()
    got = [q.value for q in treenet.from_torch(module).parameters]
    want = [q.value for q in net.parameters]
    assert np.allclose(got, want, rtol=1e-12, atol=1e-14), (got, want)


@pytest.mark.parametrize("device", DEVICES)
def test_the_module_moves_to_float32_and_to_a_device(device):
    net = treenet.parse("softmax(tanh(p*x + p*y + p), max(x, y), abs(x))", seed=1)
    module = treenet.to_torch(net).to(device).to(torch.float32)
    assert {q.dtype for q in module.parameters()} == {torch.float32}
    assert {q.device.type for q in module.parameters()} == {device}
    X = np.random.RandomState(0).uniform(-1, 1, (6, 2))
    out = module(torch.tensor(X, dtype=torch.float32, device=device))
    assert out.dtype == torch.float32 and out.device.type == device
    assert np.allclose(out.detach().cpu().numpy(), net.predict(X), rtol=1e-5, atol=1e-6)
    out.sum().backward()
    assert all(q.grad is not None and q.grad.dtype == torch.float32 for q in module.parameters())
    # a list, a numpy array: made a tensor of the parameters' dtype and device
    assert module(X.tolist()).dtype == torch.float32
    # and back to float64, exactly (a float32 value is a float64 value)
    back = treenet.from_torch(module)
    assert [q.value for q in back.parameters] == [float(np.float32(q.value))
                                                 for q in net.parameters]


def test_any_torch_optimizer_trains_it():
    net = treenet.parse("sigmoid(p*tanh(p*x + p*y + p) + p)", seed=5)
    module = treenet.to_torch(net)
    data = _data(32)
    X = torch.tensor([x for x, _ in data], dtype=torch.float64)
    T = torch.tensor([t for _, t in data], dtype=torch.float64)
    for make in (lambda ps: torch.optim.Adam(ps, lr=0.05), lambda ps: torch.optim.RMSprop(ps)):
        opt, losses = make(module.parameters()), []
        for _ in range(5):
            opt.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy(module(X), T)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[-1] < losses[0]


def test_torch_compile_gives_the_modules_values_and_gradients():
    # a quick backend here (inductor compiles C++ for a minute on a loaded machine); the
    # traced graph is the one inductor would compile
    net = treenet.parse("h = relu(p*x + p*y + p)\nsoftmax(max(h, x), sigmoid(h) ^ 2, abs(y))",
                        seed=6)
    module = treenet.to_torch(net)
    compiled = torch.compile(module, backend="aot_eager", fullgraph=True)
    X = np.random.RandomState(1).uniform(-1, 1, (7, 2))
    D = np.random.RandomState(2).uniform(-1, 1, (7, 3))
    eager = run(module, X, D)
    again = run(compiled, X, D)
    for a, b in zip(eager, again):
        assert np.allclose(a, b, rtol=1e-13, atol=1e-15)
    assert [q.value for q in treenet.from_torch(compiled).parameters] == \
        [q.value for q in net.parameters]


def test_distributed_data_parallel_wraps_it_and_from_torch_unwraps_it(tmp_path):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    net = treenet.parse("tanh(p*x + p*y + p)", seed=7)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}",
                            rank=0, world_size=1)
    try:
        ddp = DistributedDataParallel(treenet.to_torch(net))
        X = torch.tensor([[0.5, -0.25], [1.0, 2.0]], dtype=torch.float64)
        ddp(X).sum().backward()
        grads = [q.grad.item() for q in ddp.parameters()]
    finally:
        dist.destroy_process_group()
    expected = np.zeros(3)
    for row in X.tolist():
        net.predict(row)
        net.zero_grad()
        net.backward()
        expected += [q.grad for q in net.parameters]
    assert np.allclose(grads, expected, rtol=1e-12, atol=0)
    assert treenet.from_torch(ddp).funcify() == net.funcify()


def test_a_long_network_is_cut_into_parts_that_compute_the_same(monkeypatch):
    net = treenet.parse("h = x\n" + "h = tanh(p*h + p)\n" * 40 + "h", seed=8)
    X = np.array([[0.3], [-0.7]])
    whole = run(treenet.to_torch(net), X, np.ones(2))
    monkeypatch.setattr(arrayfn, "CHUNK", 7)
    assert "def _part_3(" in arrayfn.source(net.graph)
    parts = run(treenet.to_torch(net), X, np.ones(2))
    for a, b in zip(whole, parts):
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_without_torch_the_error_names_the_extra(monkeypatch):
    net = treenet.parse("x")
    monkeypatch.setitem(sys.modules, "torch", None)
    for call in (lambda: treenet.to_torch(net), lambda: treenet.from_torch(object())):
        with pytest.raises(TreenetError, match=r"pip install 'treenet\[torch\]'"):
            call()


@pytest.mark.parametrize("call, message", [
    (lambda: treenet.to_torch("x"), "not a network"),
    (lambda: treenet.to_torch(treenet.parse("x"), dtype=torch.int64), "floating torch dtype"),
    (lambda: treenet.to_torch(treenet.Add([treenet.Parameter(1.0, name="a.b"),
                                           treenet.Input(name="x")])),
     "parameter 'a.b' cannot be a torch parameter's name"),
    (lambda: treenet.to_torch(treenet.Add([treenet.Parameter(1.0, name="forward"),
                                           treenet.Input(name="x")])),
     "parameter 'forward' cannot be a torch parameter's name"),
    (lambda: treenet.to_torch(treenet.parse("x * y"))(torch.zeros(3, 3)),
     r"rows of 2 input value\(s\) \(x, y\): expected shape \(n, 2\), got \(3, 3\)"),
    (lambda: treenet.from_torch(torch.nn.Linear(2, 1)), "a module made by treenet.to_torch"),
])
def test_wrong_arguments_are_treenet_errors(call, message):
    with pytest.raises(TreenetError, match=message):
        call()


def test_a_users_op_without_templates_is_refused_by_name():
    from test_codegen import Cube
    with pytest.raises(TreenetError, match="Cube"):
        treenet.to_torch(Cube([treenet.Input(name="x")]))


def test_names_never_reach_the_forward_source():
    net = treenet.Add([treenet.Parameter(1.0, name="__import__('os')"),
                       treenet.Input(name="x); import os; (")])
    text = arrayfn.source(net.graph)
    assert "import" not in text and "os'" not in text
    module = treenet.to_torch(net)
    assert list(dict(module.named_parameters())) == ["__import__('os')"]
    assert module(torch.tensor([[2.0]])).tolist() == [3.0]


def test_the_ddp_example_trains_on_two_processes_and_its_result_loads_back(tmp_path):
    import subprocess
    from pathlib import Path
    example = Path(__file__).resolve().parent.parent / "examples" / "distributed_torch.py"
    path = tmp_path / "trained.tn"
    done = subprocess.run([sys.executable, str(example), "--save", str(path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    processes = torch.cuda.device_count() if torch.cuda.is_available() else 2
    assert f"{processes} processes" in done.stdout and "gradcheck at (0.3, -0.2): ok=True" \
        in done.stdout
    trained = treenet.load(path)
    assert [i.name for i in trained.inputs] == ["x", "y"] and len(trained.parameters) == 13
    # it learned the side of the line x + 2y = 0.3
    X = np.array([[0.9, 0.9], [-0.9, -0.9], [0.0, 0.5], [0.0, -0.5]])
    assert (trained.predict(X) > 0.5).tolist() == [True, False, True, False]


def test_the_benchmarks_export_row_trains_the_references_parameters():
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench
    from _bench_impls import Skip
    errors = bench.prove("treenet-torch")
    assert set(errors) == {"W1 batch", "W2 batch"}
    assert all(err <= bench.TOLERANCE for err in errors.values()), errors
    if torch.cuda.is_available():
        assert all(e <= bench.TOLERANCE for e in bench.prove("treenet-torch-gpu").values())
    else:
        with pytest.raises(Skip, match="no CUDA device"):
            bench.prove("treenet-torch-gpu")

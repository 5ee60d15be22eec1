"""Generated code against the interpreted engine and hand-written code, in one process.

    python3 benchmarks/bench_codegen.py [--quick | --train]

W1: sigmoid(p*relu(p*x + p*y + p) + p), value and gradient. Per sample: the generated python
function (raw, and through `compiled`'s checks), the engine (predict + backward) and hand-written
straight-line Python. A batch of 1000: the generated numpy function and hand-written numpy.
W2: the MLP softmax(dense(3, tanh(dense(16, tanh(dense(16, x, y)))))), a batch of 1000: the
generated numpy function, element-wise and with layers=True (matrix products), and hand-written
numpy with matrix products.
W3: the chain h = tanh(p*h + p) at 1k, 10k and 100k layers (--quick: 1k and 10k): the time to
generate and compile value_and_grad, and one forward + backward, generated and engine.
W1 train: `treenet.train(loss="bce", optimizer="sgd", batch_size=1)` on 1000 samples, each
backend, against hand-written straight-line Python doing the same steps (the loss on the logits,
which train records, its derivative, the backward pass and the SGD update), timed right after
each repeat: the paired ratio is the median of reference time / train time (higher is better,
1.0 = as fast as the hand-written loop). Both first prove they give the same parameters.
Full batch (--batch): train(batch_size=1000) on W1 and W2 (a 2-16-16-1 tanh MLP, BCE), and torch,
against hand-written numpy, paired; twice: against the reference that only trains, and against
one that also computes each epoch's mean loss and accuracy, as train does for its history (a
fair reference for a loop that reports them). Each train call parses a new network, so its code
generation is in its time.
Times are the best of a few runs; ratios are against the hand-written (W1) or engine (W3) code
(for W1 train: throughput ratios, reference = 1)."""

import math
from pathlib import Path
import random
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
import numpy as np  # noqa: E402

import treenet  # noqa: E402
from treenet.generator import compiled  # noqa: E402
from _bench_work import FORMULAS, w1_batch_numpy, w2_batch_numpy, w2_flat, w2_matrices  # noqa: E402

W1 = FORMULAS["W1"]


def best(fn, repeat=3):
    out = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - t0)
    return out


def hand_w1(x, y, p):
    """Value and gradient of W1, by hand (parameters in order of appearance: w3, w1, w2, b1, b2)."""
    w3, w1, w2, b1, b2 = p
    a = w1 * x + w2 * y + b1
    h = a if a > 0 else 0.0
    z = w3 * h + b2
    o = 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
    dz = o * (1.0 - o)
    dh = dz * w3
    da = dh if a > 0 else 0.0
    return o, [da * w1, da * w2], [dz * h, da * x, da * y, da, dz]


def hand_w1_numpy(X, p):
    w3, w1, w2, b1, b2 = p
    x, y = X[:, 0], X[:, 1]
    a = w1 * x + w2 * y + b1
    h = np.maximum(a, 0.0)
    z = w3 * h + b2
    e = np.exp(-np.abs(z))
    o = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    dz = o * (1.0 - o)
    da = dz * w3 * (a > 0)
    return o, np.stack([da * w1, da * w2], axis=1), np.array(
        [np.sum(dz * h), np.sum(da * x), np.sum(da * y), np.sum(da), np.sum(dz)])


def w1_rows():
    net = treenet.parse(W1, seed=0)
    rng = random.Random(0)
    points = [[rng.uniform(-2, 2), rng.uniform(-2, 2)] for _ in range(2000)]
    p = [q.value for q in net.parameters]
    c = compiled(net)
    raw = c._function("value_and_grad")
    assert raw(points[0], p)[0] == hand_w1(*points[0], p)[0] == net.predict(points[0])

    def engine():
        for pt in points:
            net.predict(pt)
            net.zero_grad()
            net.backward()

    t_hand = best(lambda: [hand_w1(a, b, p) for a, b in points])
    t_raw = best(lambda: [raw(pt, p) for pt in points])
    t_checked = best(lambda: [c.value_and_grad(pt, p) for pt in points])
    t_engine = best(engine)
    n = len(points)
    rows = [("W1 per sample: hand-written python", t_hand / n, 1.0),
            ("W1 per sample: generated python", t_raw / n, t_raw / t_hand),
            ("W1 per sample: generated, checked", t_checked / n, t_checked / t_hand),
            ("W1 per sample: engine", t_engine / n, t_engine / t_hand)]
    X = np.array(points[:1000])
    cn = compiled(net, "numpy")
    raw_np = cn._function("value_and_grad")
    assert np.allclose(raw_np(X, p)[2], hand_w1_numpy(X, p)[2], rtol=1e-12, atol=1e-15)
    t_hand_np = best(lambda: hand_w1_numpy(X, p), 20)
    t_np = best(lambda: raw_np(X, p), 20)
    t_np_checked = best(lambda: cn.value_and_grad(X, p), 20)
    rows += [("W1 batch of 1000: hand-written numpy", t_hand_np, 1.0),
             ("W1 batch of 1000: generated numpy", t_np, t_np / t_hand_np),
             ("W1 batch of 1000: generated, checked", t_np_checked, t_np_checked / t_hand_np)]
    return rows


W2 = "softmax(dense(3, tanh(dense(16, tanh(dense(16, x, y))))))"


def hand_mlp(X, Ws, bs, d):
    """Value and gradients of W2 by hand; Ws, bs: the layers' weights (units x arguments) and
    biases."""
    acts, a = [X], X
    for k, (W, b) in enumerate(zip(Ws, bs)):
        z = a @ W.T + b
        a = np.tanh(z) if k < len(Ws) - 1 else z
        acts.append(a)
    e = np.exp(a - a.max(axis=1, keepdims=True))
    y = e / e.sum(axis=1, keepdims=True)
    gz = y * (d - (d * y).sum(axis=1, keepdims=True))
    grads = []
    for k in range(len(Ws) - 1, -1, -1):
        grads.append((gz.T @ acts[k], gz.sum(axis=0)))
        ga = gz @ Ws[k]
        gz = ga * (1.0 - acts[k] ** 2) if k > 0 else ga
    return y, gz, grads


def w2_rows():
    net = treenet.parse(W2, seed=0)
    p = [q.value for q in net.parameters]
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (1000, 2))
    d = rng.uniform(-1, 1, (1000, 3))
    # the parameters unit by unit, each unit's weights then its bias (dense's documented order)
    Ws, bs, k = [], [], 0
    for units, width in ((16, 2), (16, 16), (3, 16)):
        W = np.zeros((units, width))
        b = np.zeros(units)
        for u in range(units):
            W[u] = p[k:k + width]
            b[u] = p[k + width]
            k += width + 1
        Ws.append(W)
        bs.append(b)
    flat = compiled(net, "numpy")._function("value_and_grad")
    layered = compiled(net, "numpy", layers=True)._function("value_and_grad")
    y = hand_mlp(X, Ws, bs, d)[0]
    assert np.allclose(flat(X, p, d)[0], y, rtol=1e-12) and np.allclose(layered(X, p, d)[0], y)
    t_hand = best(lambda: hand_mlp(X, Ws, bs, d), 10)
    t_flat = best(lambda: flat(X, p, d), 5)
    t_layers = best(lambda: layered(X, p, d), 10)
    return [("W2 MLP batch of 1000: hand-written numpy", t_hand, 1.0),
            ("W2 MLP batch of 1000: generated, element-wise", t_flat, t_flat / t_hand),
            ("W2 MLP batch of 1000: generated, layers=True", t_layers, t_layers / t_hand)]


def chain(layers):
    h = treenet.Input(name="x")
    for _ in range(layers):
        h = treenet.Tanh([treenet.Add([treenet.Multiply([treenet.Parameter(), h]),
                                       treenet.Parameter()])])
    h.compile()
    return h


def w3_rows(sizes):
    rows = []
    for layers in sizes:
        net = chain(layers)
        t0 = time.perf_counter()
        c = compiled(net)
        raw = c._function("value_and_grad")
        t_compile = time.perf_counter() - t0
        p = [q.value for q in net.parameters]

        def engine():
            net.predict([0.3])
            net.zero_grad()
            net.backward()

        for _ in range(8):  # CPython specializes a function's code after its first few runs
            raw([0.3], p)
        repeat = 3 if layers <= 10_000 else 2
        t_gen = best(lambda: raw([0.3], p), repeat)
        t_engine = best(engine, repeat)
        nodes = len(net.graph)
        rows += [(f"W3 chain {layers}: generate + compile", t_compile, t_compile / t_engine),
                 (f"W3 chain {layers}: fwd+bwd generated", t_gen, t_gen / t_engine),
                 (f"W3 chain {layers}: fwd+bwd engine ({nodes} nodes)", t_engine, 1.0)]
    return rows


def hand_train_w1(points, targets, p, lr, epochs):
    """Per-sample SGD on W1 with BCE on the logit, straight-line: (parameters, last epoch's
    mean loss)."""
    w3, w1, w2, b1, b2 = p
    exp, log1p = math.exp, math.log1p
    total = 0.0
    for _ in range(epochs):
        total = 0.0
        for (x, y), t in zip(points, targets):
            a = w1 * x + w2 * y + b1
            h = a if a > 0 else 0.0
            z = w3 * h + b2
            total += (z if z >= 0.0 else 0.0) - t * z + log1p(exp(-abs(z)))
            if z >= 0:
                s = 1.0 / (1.0 + exp(-z))
            else:
                s = exp(z)
                s = s / (1.0 + s)
            dz = s - t
            da = dz * w3 if a > 0 else 0.0
            w3 -= lr * (dz * h)
            b2 -= lr * dz
            w1 -= lr * (da * x)
            w2 -= lr * (da * y)
            b1 -= lr * da
    return [w3, w1, w2, b1, b2], total / len(points)


def w1_train_rows(repeat=5, epochs=20):
    rng = random.Random(1)
    points = [[rng.uniform(-2, 2), rng.uniform(-2, 2)] for _ in range(1000)]
    targets = [float(rng.random() < 0.5) for _ in points]
    data = list(zip(points, targets))
    start = [q.value for q in treenet.parse(W1, seed=0).parameters]
    ref, _ = hand_train_w1(points, targets, start, 0.05, 2)
    rows = []
    for backend in ("python", "interpreted", "numpy"):
        ratios, times = [], []
        for r in range(repeat if backend == "python" else 2):
            net = treenet.parse(W1, seed=0)
            e = 2 if r == 0 else (epochs if backend == "python" else 2)
            t0 = time.perf_counter()
            treenet.train(net, data, loss="bce", lr=0.05, epochs=e, shuffle=False,
                          progress=False, backend=backend)
            t_train = time.perf_counter() - t0
            t0 = time.perf_counter()
            hand_train_w1(points, targets, start, 0.05, e)
            t_hand = time.perf_counter() - t0
            if r == 0:  # the proof (and the code compiled and cached)
                got = [q.value for q in net.parameters]
                assert all(abs(a - b) <= 1e-9 * abs(b) for a, b in zip(got, ref)), backend
                continue
            ratios.append(t_hand / t_train)
            times.append(t_train / (e * len(data)))
        ratios.sort()
        rows.append((f"W1 train per sample, {backend} (s/step, paired ratio)", min(times),
                     ratios[len(ratios) // 2]))
    t0 = time.perf_counter()
    hand_train_w1(points, targets, start, 0.05, epochs)
    rows.append(("W1 train per sample: hand-written python", (time.perf_counter() - t0)
                 / (epochs * len(data)), 1.0))
    return rows


# --- full batch: train(batch_size=1000) against hand-written numpy and torch ---------------------

W2_TRAIN = FORMULAS["W2"]
"""A 2-16-16-1 tanh MLP as a scalar tree (337 parameters), BCE on its logit."""


def torch_batch(kind, p, X, T, lr, epochs):
    """The same full-batch SGD in PyTorch (float64, one thread), or None when not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    Xt, Tt = torch.tensor(X), torch.tensor(T)
    if kind == "W1":
        ps = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in p]

        def logit():
            w3, w1, w2, b1, b2 = ps
            return w3 * torch.relu(w1 * Xt[:, 0] + w2 * Xt[:, 1] + b1) + b2
    else:
        ps = [torch.tensor(m, requires_grad=True) for W, b in w2_matrices(p) for m in (W, b)]

        def logit():
            a = Xt
            for k in range(0, len(ps) - 2, 2):
                a = torch.tanh(a @ ps[k].T + ps[k + 1])
            return (a @ ps[-2].T + ps[-1])[:, 0]
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    for _ in range(epochs):
        loss = bce(logit(), Tt)
        for q in ps:
            q.grad = None
        loss.backward()
        with torch.no_grad():
            for q in ps:
                q -= lr * q.grad
    if kind == "W1":
        return [float(q.detach()) for q in ps]
    out = [q.detach().numpy() for q in ps]
    return w2_flat(list(zip(out[0::2], out[1::2])))


def batch_rows(repeat=7, epochs=(200, 40)):
    """W1 and W2 full batch (batch_size = the data set, 1000 rows, SGD lr 0.1): train on each
    backend, and torch, against hand-written numpy, paired, median of per-repeat ratios."""
    rng = random.Random(2)
    points = [[rng.uniform(-2, 2), rng.uniform(-2, 2)] for _ in range(1000)]
    targets = [float(rng.random() < 0.5) for _ in points]
    data = list(zip(points, targets))
    X, T = np.array(points), np.array(targets)
    rows = []
    for (kind, formula, hand), e in zip((("W1", W1, w1_batch_numpy),
                                         ("W2", W2_TRAIN, w2_batch_numpy)), epochs):
        start = [q.value for q in treenet.parse(formula, seed=0).parameters]
        ref = hand(start, X, T, 0.1, 3)

        def proved(got, who):
            scale = max(abs(v) for v in ref)
            assert all(abs(a - b) <= 1e-9 * scale for a, b in zip(got, ref)), (kind, who)

        def run_train(epochs, backend):
            net = treenet.parse(formula, seed=0)
            t0 = time.perf_counter()
            treenet.train(net, data, loss="bce", lr=0.1, epochs=epochs, batch_size=len(data),
                          shuffle=False, progress=False, backend=backend)
            return time.perf_counter() - t0, [q.value for q in net.parameters]

        def run_torch(epochs):
            t0 = time.perf_counter()
            got = torch_batch(kind, start, X, T, 0.1, epochs)
            return time.perf_counter() - t0, got

        impls = [("train numpy", lambda k: run_train(k, "numpy"))]
        if torch_batch(kind, start, X[:2], T[:2], 0.1, 1) is not None:
            impls.append(("torch batched, 1 thread", run_torch))
        assert hand(start, X, T, 0.1, 3, []) == ref
        for name, fn in impls:
            proved(fn(3)[1], name)
            ratios, fair, times = [], [], []
            for _ in range(repeat):
                t_impl = fn(e)[0]
                t0 = time.perf_counter()
                hand(start, X, T, 0.1, e)
                t_hand = time.perf_counter() - t0
                t0 = time.perf_counter()
                hand(start, X, T, 0.1, e, [])
                t_fair = time.perf_counter() - t0
                ratios.append(t_hand / t_impl)
                fair.append(t_fair / t_impl)
                times.append(t_impl / e)
            ratios.sort()
            fair.sort()
            rows.append((f"{kind} batch of 1000, {name} (s/epoch, ratio)", min(times),
                         ratios[len(ratios) // 2]))
            rows.append(("  ... ratio to the reference with loss and accuracy", min(times),
                         fair[len(fair) // 2]))
        for label, extra in (("", ()), (", loss and accuracy", ([],))):
            t0 = time.perf_counter()
            hand(start, X, T, 0.1, e, *extra)
            rows.append((f"{kind} batch of 1000: hand-written numpy{label}",
                         (time.perf_counter() - t0) / e, 1.0))
    return rows


def main(argv):
    sizes = (1000, 10_000) if "--quick" in argv else (1000, 10_000, 100_000)
    if "--train" in argv:
        rows = w1_train_rows()
    elif "--batch" in argv:
        rows = batch_rows()
    else:
        rows = w1_rows() + w1_train_rows() + w2_rows() + w3_rows(sizes)
    print(f"{'workload':56} {'seconds':>12} {'ratio':>8}")
    for name, t, ratio in rows:
        print(f"{name:56} {t:12.3g} {ratio:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

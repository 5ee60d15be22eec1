"""The benchmark's workloads (data, initial parameters, formulas) and the hand-written references
that every implementation is timed against. See bench.py.

Parameters travel as one flat list in a canonical order, treenet's creation order: W1
[w, wx, wy, b1, b2] for sigmoid(w*relu(wx*x + wy*y + b1) + b2); W2 layer by layer, unit by unit,
each unit's weights (in argument order) then its bias, as `dense` creates them; W3 [w1, b1, w2,
b2, ...] from the input up."""

import math
import random

import numpy as np

ROWS = 1000
LR = 0.1

FORMULAS = {
    "W1": "sigmoid(p*relu(p*x + p*y + p) + p)",
    "W2": "sigmoid(linear(tanh(dense(16, tanh(dense(16, x, y))))))",
}
W2_SIZES = (2, 16, 16, 1)


def dataset(n=ROWS, seed=2024):
    """n rows (x, y, t): points in [-2, 2]^2, t = 1 inside a circle of radius 1.3, else 0."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        x, y = rng.uniform(-2, 2), rng.uniform(-2, 2)
        rows.append((x, y, 1.0 if x * x + y * y < 1.69 else 0.0))
    return rows


def initial(kind):
    """The initial parameters every implementation starts from, canonical order."""
    if kind == "W1":
        return [0.7, 0.9, -0.6, 0.2, -0.1]
    rng = random.Random(7)
    p = []
    for fan_in, units in zip(W2_SIZES, W2_SIZES[1:]):
        for _ in range(units):
            p += [rng.uniform(-1, 1) / math.sqrt(fan_in) for _ in range(fan_in)]
            p.append(rng.uniform(-0.1, 0.1))
    return p


def rel_error(got, want):
    """max |got - want| / max |want|: norm-wise relative, so parameters near 0 do not blow it up."""
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    if got.shape != want.shape:
        return math.inf
    scale = float(np.max(np.abs(want))) or 1.0
    return float(np.max(np.abs(got - want))) / scale


def sigmoid(z):
    """1 / (1 + e^-z), never overflowing."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def np_sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


# --- W1 by hand: straight-line Python, and numpy over the batch -------------------------------
# BCE on the logit z: dL/dz = sigmoid(z) - t, the form every implementation uses.

def w1_sample(p, rows, lr, epochs):
    """Per-sample SGD on W1, parameters in locals."""
    w, wx, wy, b1, b2 = p
    exp = math.exp
    for _ in range(epochs):
        for x, y, t in rows:
            a = wx * x + wy * y + b1
            h = a if a > 0.0 else 0.0
            z = w * h + b2
            if z >= 0.0:
                s = 1.0 / (1.0 + exp(-z))
            else:
                e = exp(z)
                s = e / (1.0 + e)
            dz = s - t
            da = dz * w if a > 0.0 else 0.0
            w -= lr * dz * h
            wx -= lr * da * x
            wy -= lr * da * y
            b1 -= lr * da
            b2 -= lr * dz
    return [w, wx, wy, b1, b2]


def w1_batch_python(p, rows, lr, epochs):
    """Full-batch gradient descent on W1 (mean loss), a loop over the rows."""
    w, wx, wy, b1, b2 = p
    n = len(rows)
    for _ in range(epochs):
        gw = gwx = gwy = gb1 = gb2 = 0.0
        for x, y, t in rows:
            a = wx * x + wy * y + b1
            h = a if a > 0.0 else 0.0
            dz = sigmoid(w * h + b2) - t
            da = dz * w if a > 0.0 else 0.0
            gw += dz * h
            gwx += da * x
            gwy += da * y
            gb1 += da
            gb2 += dz
        w, wx, wy = w - lr * gw / n, wx - lr * gwx / n, wy - lr * gwy / n
        b1, b2 = b1 - lr * gb1 / n, b2 - lr * gb2 / n
    return [w, wx, wy, b1, b2]


def np_history(z, s, T, history):
    """Append the epoch's mean BCE loss on the logits z and its accuracy (s = sigmoid(z)), as
    train's history keeps them: what a fair reference for `train` computes besides gradients."""
    history.append(((np.maximum(z, 0.0) - T * z + np.log1p(np.exp(-np.abs(z)))).mean(),
                    np.count_nonzero((s >= 0.5) == (T >= 0.5)) / len(T)))


def w1_batch_numpy(p, X, T, lr, epochs, history=None):
    """Full-batch gradient descent on W1 (mean loss), numpy over the rows; with a list
    `history`, each epoch's mean loss and accuracy are appended to it (see np_history)."""
    w, wx, wy, b1, b2 = p
    x, y = X[:, 0], X[:, 1]
    n = len(T)
    for _ in range(epochs):
        a = wx * x + wy * y + b1
        h = np.maximum(a, 0.0)
        z = w * h + b2
        s = np_sigmoid(z)
        if history is not None:
            np_history(z, s, T, history)
        dz = (s - T) / n
        da = dz * w * (a > 0.0)
        w, wx, wy = w - lr * (dz @ h), wx - lr * (da @ x), wy - lr * (da @ y)
        b1, b2 = b1 - lr * da.sum(), b2 - lr * dz.sum()
    return [float(v) for v in (w, wx, wy, b1, b2)]


# --- W2 by hand: straight-line Python written by this script, numpy with matrix products ------

def _w2_layout(sizes=W2_SIZES):
    """For each layer, for each unit: (indices of its weights, index of its bias)."""
    layers, k = [], 0
    for fan_in, units in zip(sizes, sizes[1:]):
        layer = []
        for _ in range(units):
            layer.append((list(range(k, k + fan_in)), k + fan_in))
            k += fan_in + 1
        layers.append(layer)
    return layers, k


def w2_python_source(batch):
    """Straight-line Python for W2's SGD (per sample, or full batch with `batch`): parameters in
    locals w0..w336, one line per unit, the chain rule spelled out, as a person would write it
    if they had the patience."""
    layers, n_p = _w2_layout()
    ws = ", ".join(f"w{k}" for k in range(n_p))
    name = "batch_epochs" if batch else "sample_epochs"
    out = [f"def {name}(p, rows, lr, epochs):", f"    {ws}, = p", "    tanh = math.tanh",
           "    exp = math.exp", "    n = len(rows)", "    for _ in range(epochs):"]
    ind = "            "
    if batch:
        out += [f"        G{k} = 0.0" for k in range(n_p)]
    out.append("        for h0_0, h0_1, t in rows:")
    last = len(layers)
    for l, layer in enumerate(layers, 1):
        for u, (wk, bk) in enumerate(layer):
            terms = " + ".join(f"w{k}*h{l - 1}_{v}" for v, k in enumerate(wk))
            expr = f"{terms} + w{bk}"
            out.append(f"{ind}h{l}_{u} = {'tanh(' + expr + ')' if l < last else expr}")
    out += [f"{ind}z = h{last}_0", f"{ind}if z >= 0.0:", f"{ind}    s = 1.0 / (1.0 + exp(-z))",
            f"{ind}else:", f"{ind}    e = exp(z)", f"{ind}    s = e / (1.0 + e)",
            f"{ind}g{last}_0 = s - t"]
    for l in range(last, 1, -1):  # adjoints of the hidden units, from the top
        below = len(layers[l - 2])
        for v in range(below):
            terms = " + ".join(f"g{l}_{u}*w{wk[v]}" for u, (wk, _) in enumerate(layers[l - 1]))
            out.append(f"{ind}g{l - 1}_{v} = ({terms}) * (1.0 - h{l - 1}_{v}*h{l - 1}_{v})")
    for l, layer in enumerate(layers, 1):  # then every update, from the old weights' adjoints
        for u, (wk, bk) in enumerate(layer):
            for v, k in enumerate(wk):
                out.append(f"{ind}G{k} += g{l}_{u}*h{l - 1}_{v}" if batch else
                           f"{ind}w{k} -= lr*g{l}_{u}*h{l - 1}_{v}")
            out.append(f"{ind}G{bk} += g{l}_{u}" if batch else f"{ind}w{bk} -= lr*g{l}_{u}")
    if batch:
        out += [f"        w{k} -= lr*G{k}/n" for k in range(n_p)]
    out.append(f"    return [{ws}]")
    return "\n".join(out) + "\n"


def _compile_w2():
    namespace = {"math": math}
    for batch in (False, True):
        # the script's own text, built from integers: nothing from outside reaches exec
        exec(compile(w2_python_source(batch), "<bench w2 reference>", "exec"), namespace)
    return namespace["sample_epochs"], namespace["batch_epochs"]


w2_sample, w2_batch_python = _compile_w2()


def w2_matrices(p):
    """The canonical parameters as [(W, b)] per layer, W of shape (units, fan_in)."""
    layers, _ = _w2_layout()
    p = np.asarray(p, dtype=float)
    return [(np.array([p[wk] for wk, _ in layer]), np.array([p[bk] for _, bk in layer]))
            for layer in layers]


def w2_flat(mats):
    out = []
    for W, b in mats:
        for u in range(len(b)):
            out += [float(v) for v in W[u]] + [float(b[u])]
    return out


def w2_batch_numpy(p, X, T, lr, epochs, history=None):
    """Full-batch gradient descent on W2 (mean loss), `W @ h` per layer; `history` as in
    w1_batch_numpy."""
    mats = [(W.copy(), b.copy()) for W, b in w2_matrices(p)]
    n = len(T)
    for _ in range(epochs):
        acts, a = [X], X
        for W, b in mats[:-1]:
            a = np.tanh(a @ W.T + b)
            acts.append(a)
        W, b = mats[-1]
        z = a @ W[0] + b[0]
        s = np_sigmoid(z)
        if history is not None:
            np_history(z, s, T, history)
        g = ((s - T) / n)[:, None]
        for k in range(len(mats) - 1, -1, -1):
            W, b = mats[k]
            gW, gb = g.T @ acts[k], g.sum(axis=0)
            if k:
                g = (g @ W) * (1.0 - acts[k] * acts[k])
            mats[k] = (W - lr * gW, b - lr * gb)
    return w2_flat(mats)


def reference(kind, mode, numpy_batch=True):
    """make(rows, p0, lr) -> run(epochs) -> parameters, for the hand-written reference."""
    if mode == "sample":
        fn = w1_sample if kind == "W1" else w2_sample
    elif not numpy_batch:
        fn = w1_batch_python if kind == "W1" else w2_batch_python
    else:
        fn = w1_batch_numpy if kind == "W1" else w2_batch_numpy

        def make(rows, p0, lr):
            X = np.array([r[:2] for r in rows])
            T = np.array([r[2] for r in rows])
            return lambda epochs: fn(p0, X, T, lr, epochs)
        return make
    return lambda rows, p0, lr: (lambda epochs: fn(p0, rows, lr, epochs))


# --- W3: the chain h = tanh(w*h + b) -----------------------------------------------------------

def chain_weights(layers, seed=3):
    """[(w, b)] per layer: w near 1 and b near 0, so that neither h nor the gradient dies out
    (a subnormal gradient would time the CPU's slow path, not the code)."""
    rng = random.Random(seed)
    return [(rng.uniform(0.95, 1.05), rng.uniform(-0.01, 0.01)) for _ in range(layers)]


def chain_python(weights, x):
    """(h, [dh/dw1, dh/db1, dh/dw2, ...]): forward, then the chain rule backwards, by hand."""
    tanh = math.tanh
    hs = [x]
    h = x
    for w, b in weights:
        h = tanh(w * h + b)
        hs.append(h)
    g = 1.0
    grads = [0.0] * (2 * len(weights))
    for k in range(len(weights) - 1, -1, -1):
        h_out = hs[k + 1]
        d = g * (1.0 - h_out * h_out)
        grads[2 * k] = d * hs[k]
        grads[2 * k + 1] = d
        g = d * weights[k][0]
    return h, grads


# --- graph building: a topological sort by hand ------------------------------------------------

def toposort(root):
    """(nodes, children as index tuples), children first: an iterative post-order walk."""
    index, nodes, children = {}, [], []
    stack = [root]
    while stack:
        node = stack[-1]
        if id(node) in index:
            stack.pop()
            continue
        pending = [c for c in node.children if id(c) not in index]
        if pending:
            stack.extend(reversed(pending))
            continue
        stack.pop()
        index[id(node)] = len(nodes)
        nodes.append(node)
        children.append(tuple(index[id(c)] for c in node.children))
    return nodes, children

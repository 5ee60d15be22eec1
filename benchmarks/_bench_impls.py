"""The implementations the benchmark compares (see bench.py). Each is a factory that imports
what it needs (raising Skip with the reason when that is missing) and returns an object with

    label                      how the table names it
    trainer(kind, mode)        None (not applicable), or make(rows, p0, lr) -> run(epochs) ->
                               the trained parameters in canonical order (_bench_work's)
    chain(weights, x)          None, or (compile seconds, run, result): run() does one forward
                               and backward of W3, result() -> (h, canonical gradients)
    graph                      True for the one that times graph building

Every run(epochs) starts again from p0, so repeats time the same work."""

import inspect
import math
import os
import time

import _bench_work as W
from _bench_work import sigmoid


class Skip(Exception):
    """An optional implementation that cannot run here; the message says why."""


class Base:
    label = "?"
    graph = False

    def trainer(self, kind, mode):
        return None

    def chain(self, weights, x):
        return None


# --- the hand-written references ----------------------------------------------------------------

class Reference(Base):
    label = "hand-written reference (Python per sample, numpy batch)"

    def trainer(self, kind, mode):
        return W.reference(kind, mode)

    def chain(self, weights, x):
        out = {}

        def run():
            out["r"] = W.chain_python(weights, x)
        return 0.0, run, lambda: out["r"]


class PythonBatch(Base):
    label = "hand-written Python, batch as a loop over rows"

    def trainer(self, kind, mode):
        return W.reference(kind, mode, numpy_batch=False) if mode == "batch" else None


# --- treenet ----------------------------------------------------------------------------------

def _treenet():
    import treenet
    return treenet


def _net(kind, p0):
    treenet = _treenet()
    net = treenet.parse(W.FORMULAS[kind], seed=0)
    if len(net.parameters) != len(p0):
        raise RuntimeError(f"{kind} has {len(net.parameters)} parameters, expected {len(p0)}")
    for q, v in zip(net.parameters, p0):
        q.value = v
    return net


def build_chain(weights):
    """W3 from treenet's classes: (root, [w1, b1, w2, b2, ...] Parameter nodes)."""
    treenet = _treenet()
    h = treenet.Input(name="x")
    leaves = []
    for w, b in weights:
        pw, pb = treenet.Parameter(w), treenet.Parameter(b)
        leaves += [pw, pb]
        h = treenet.Tanh([treenet.Add([treenet.Multiply([pw, h]), pb])])
    return h, leaves


def train_backends():
    """The values train's backend= takes, or None when train has no backend= (yet)."""
    if "backend" not in inspect.signature(_treenet().train).parameters:
        return None
    return (None, "interpreted", "python", "numpy")


class TreenetTrain(Base):
    """treenet.train(..., batch_size=1 or 1000, shuffle=False), with backend= if given."""

    def __init__(self, backend="default"):
        backends = train_backends()
        self.kwargs = {}
        if backend == "default":
            self.label = ("treenet train (no backend= yet: the engine)" if backends is None
                          else "treenet train (backend=None)")
            if backends is not None:
                self.kwargs = {"backend": None}
        elif backends is None:
            raise Skip("treenet.train has no backend= parameter yet")
        else:
            self.kwargs = {"backend": backend}
            self.label = f"treenet train backend={backend!r}"

    def trainer(self, kind, mode):
        treenet = _treenet()

        def make(rows, p0, lr):
            net = _net(kind, p0)
            data = [([x, y], t) for x, y, t in rows]
            batch = 1 if mode == "sample" else len(rows)

            def run(epochs):
                for q, v in zip(net.parameters, p0):
                    q.value = v
                treenet.train(net, data, loss="bce", optimizer="sgd", lr=lr, epochs=epochs,
                              batch_size=batch, shuffle=False, progress=False, **self.kwargs)
                return [q.value for q in net.parameters]
            return run
        return make


def _logit(kind, p0):
    """W's logit z (the net without its sigmoid) and where each of z's parameters sits in p0:
    BCE on the logit is how a user fuses the loss by hand."""
    net = _net(kind, p0)
    z = net.children[0]
    where = {id(q): k for k, q in enumerate(net.parameters)}
    return z, [where[id(q)] for q in z.parameters]


def _canonical(p, order, n):
    out = [0.0] * n
    for v, k in zip(p, order):
        out[k] = float(v)
    return out


class TreenetLoop(Base):
    """predict + backward per sample on the logit network, SGD written by hand."""
    label = "treenet predict + backward, hand loop"
    graph = True

    def trainer(self, kind, mode):
        if mode != "sample":
            return None

        def make(rows, p0, lr):
            z, order = _logit(kind, p0)
            params = z.parameters

            def run(epochs):
                for q, k in zip(params, order):
                    q.value = p0[k]
                for _ in range(epochs):
                    for x, y, t in rows:
                        g = sigmoid(z.predict([x, y])) - t
                        z.zero_grad()
                        z.backward()
                        for q in params:
                            q.value -= lr * g * q.grad
                return _canonical([q.value for q in params], order, len(p0))
            return run
        return make

    def chain(self, weights, x):
        root, leaves = build_chain(weights)
        t0 = time.perf_counter()
        root.compile()
        seconds = time.perf_counter() - t0
        out = {}

        def run():
            out["h"] = root.predict([x])
            root.zero_grad()
            root.backward()
        return seconds, run, lambda: (out["h"], [q.grad for q in leaves])


class TreenetGenerated(Base):
    """treenet.generator.compiled(net, target).value_and_grad in a loop written by hand."""

    def __init__(self, target, layers=False):
        self.target, self.layers = target, layers
        extra = ", layers=True" if layers else ""
        self.label = f"treenet generated {target}{extra}, hand loop"
        from treenet.generator import compiled  # noqa: F401  (missing: Skip below)

    def _compiled(self, net):
        from treenet.generator import compiled
        return compiled(net, self.target, **({"layers": True} if self.layers else {}))

    def trainer(self, kind, mode):
        if self.target == "numpy":
            return self._numpy(kind) if mode == "batch" else None
        return self._python_sample(kind) if mode == "sample" else self._python_batch(kind)

    def _python_sample(self, kind):
        def make(rows, p0, lr):
            z, order = _logit(kind, p0)
            vg = self._compiled(z).value_and_grad
            data = [([x, y], t) for x, y, t in rows]

            def run(epochs):
                p = [p0[k] for k in order]
                for _ in range(epochs):
                    for xy, t in data:
                        v, _, gp = vg(xy, p)
                        step = lr * (sigmoid(v) - t)
                        p = [a - step * b for a, b in zip(p, gp)]
                return _canonical(p, order, len(p0))
            return run
        return make

    def _python_batch(self, kind):
        def make(rows, p0, lr):
            z, order = _logit(kind, p0)
            vg = self._compiled(z).value_and_grad
            data = [([x, y], t) for x, y, t in rows]
            n = len(rows)

            def run(epochs):
                p = [p0[k] for k in order]
                for _ in range(epochs):
                    acc = [0.0] * len(p)
                    for xy, t in data:
                        v, _, gp = vg(xy, p)
                        g = sigmoid(v) - t
                        acc = [a + g * b for a, b in zip(acc, gp)]
                    p = [a - lr * b / n for a, b in zip(p, acc)]
                return _canonical(p, order, len(p0))
            return run
        return make

    def _numpy(self, kind):
        import numpy as np

        def make(rows, p0, lr):
            z, order = _logit(kind, p0)
            c = self._compiled(z)
            X = np.array([r[:2] for r in rows])
            T = np.array([r[2] for r in rows])
            n = len(rows)

            def run(epochs):
                p = np.array([p0[k] for k in order])
                for _ in range(epochs):
                    # the loss's weights need the values first: forward, then value_and_grad
                    d = (W.np_sigmoid(c.forward(X, p)) - T) / n
                    p = p - lr * c.value_and_grad(X, p, d)[2]
                return _canonical(p, order, len(p0))
            return run
        return make

    def chain(self, weights, x):
        if self.target != "python":
            return None
        root, leaves = build_chain(weights)
        t0 = time.perf_counter()
        root.compile()
        c = self._compiled(root)
        c._function("value_and_grad")  # generate and compile now, not on the first call
        seconds = time.perf_counter() - t0
        where = {id(q): k for k, q in enumerate(root.parameters)}
        order = [where[id(q)] for q in leaves]
        p = [q.value for q in root.parameters]
        out = {}

        def run():
            out["r"] = c.value_and_grad([x], p)

        def result():
            v, _, gp = out["r"]
            return v, [gp[k] for k in order]
        return seconds, run, result


# --- micrograd ----------------------------------------------------------------------------------

class Micrograd(Base):
    """micrograd's Value, with tanh and BCE-on-the-logit added in micrograd's own style (its
    package has + * ** relu only)."""
    label = "micrograd"

    def __init__(self):
        try:
            from micrograd.engine import Value
        except ImportError as exc:
            raise Skip(f"micrograd not installed ({exc})") from None
        self.Value = Value

    def tanh(self, v):
        out = self.Value(math.tanh(v.data), (v,), "tanh")

        def _backward():
            v.grad += (1.0 - out.data * out.data) * out.grad
        out._backward = _backward
        return out

    def bce_logit(self, z, t):
        """softplus(z) - t*z, whose derivative is sigmoid(z) - t."""
        zd = z.data
        out = self.Value(max(zd, 0.0) + math.log1p(math.exp(-abs(zd))) - t * zd, (z,), "bce")

        def _backward():
            z.grad += (sigmoid(zd) - t) * out.grad
        out._backward = _backward
        return out

    def logit(self, kind, ps, x, y):
        if kind == "W1":
            w, wx, wy, b1, b2 = ps
            return w * (wx * x + wy * y + b1).relu() + b2
        layers, _ = W._w2_layout()
        h = [x, y]
        for l, layer in enumerate(layers):
            z = [sum((ps[k] * h[v] for v, k in enumerate(wk)), ps[bk]) for wk, bk in layer]
            h = z if l == len(layers) - 1 else [self.tanh(a) for a in z]
        return h[0]

    def trainer(self, kind, mode):
        if mode != "sample":
            return None

        def make(rows, p0, lr):
            def run(epochs):
                ps = [self.Value(v) for v in p0]
                for _ in range(epochs):
                    for x, y, t in rows:
                        loss = self.bce_logit(self.logit(kind, ps, x, y), t)
                        for q in ps:
                            q.grad = 0.0
                        loss.backward()
                        for q in ps:
                            q.data -= lr * q.grad
                return [q.data for q in ps]
            return run
        return make

    def chain(self, weights, x):
        leaves = []
        for w, b in weights:
            leaves += [self.Value(w), self.Value(b)]
        out = {}

        def run():
            for q in leaves:
                q.grad = 0.0
            h = self.Value(x)
            for k in range(0, len(leaves), 2):
                h = self.tanh(leaves[k] * h + leaves[k + 1])
            h.backward()  # micrograd's own topological sort recurses: RecursionError
            out["h"] = h.data
        return 0.0, run, lambda: (out["h"], [q.grad for q in leaves])


# --- PyTorch ------------------------------------------------------------------------------------

def _torch():
    try:
        import torch
    except ImportError as exc:
        raise Skip(f"torch not installed ({exc})") from None
    torch.set_num_threads(1)
    return torch


class TorchScalar(Base):
    """PyTorch with 0-d float64 tensors, one per parameter, per sample; torch.optim.SGD."""
    label = "PyTorch, 0-d tensors"

    def __init__(self):
        self.torch = _torch()

    def trainer(self, kind, mode):
        if mode != "sample":
            return None
        torch = self.torch
        F = torch.nn.functional
        layers, _ = W._w2_layout()

        def logit(ps, x, y):
            if kind == "W1":
                w, wx, wy, b1, b2 = ps
                return w * torch.relu(wx * x + wy * y + b1) + b2
            h = [x, y]
            for l, layer in enumerate(layers):
                z = [sum((ps[k] * h[v] for v, k in enumerate(wk)), ps[bk]) for wk, bk in layer]
                h = z if l == len(layers) - 1 else [torch.tanh(a) for a in z]
            return h[0]

        def make(rows, p0, lr):
            data = [(x, y, torch.tensor(t, dtype=torch.float64)) for x, y, t in rows]

            def run(epochs):
                ps = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in p0]
                opt = torch.optim.SGD(ps, lr=lr)
                for _ in range(epochs):
                    for x, y, t in data:
                        loss = F.binary_cross_entropy_with_logits(logit(ps, x, y), t)
                        opt.zero_grad()
                        loss.backward()
                        opt.step()
                return [q.item() for q in ps]
            return run
        return make

    def chain(self, weights, x):
        torch = self.torch
        leaves = []
        for w, b in weights:
            leaves += [torch.tensor(w, dtype=torch.float64, requires_grad=True),
                       torch.tensor(b, dtype=torch.float64, requires_grad=True)]
        out = {}

        def run():
            h = torch.tensor(x, dtype=torch.float64)
            for k in range(0, len(leaves), 2):
                h = torch.tanh(leaves[k] * h + leaves[k + 1])
            out["r"] = (h, torch.autograd.grad(h, leaves))

        def result():
            h, grads = out["r"]
            return h.item(), torch.stack(grads).tolist()
        return 0.0, run, result


class TorchBatched(Base):
    """PyTorch on the whole batch, float64, one thread: W1 element-wise, W2 with `X @ W.T`."""
    label = "PyTorch batched, 1 thread"

    def __init__(self):
        self.torch = _torch()

    def trainer(self, kind, mode):
        if mode != "batch":
            return None
        torch = self.torch
        F = torch.nn.functional

        def make(rows, p0, lr):
            X = torch.tensor([r[:2] for r in rows], dtype=torch.float64)
            T = torch.tensor([r[2] for r in rows], dtype=torch.float64)

            def run(epochs):
                if kind == "W1":
                    ps = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in p0]
                else:
                    ps = [torch.tensor(a, dtype=torch.float64, requires_grad=True)
                          for mat in W.w2_matrices(p0) for a in mat]
                opt = torch.optim.SGD(ps, lr=lr)
                for _ in range(epochs):
                    if kind == "W1":
                        w, wx, wy, b1, b2 = ps
                        z = w * torch.relu(wx * X[:, 0] + wy * X[:, 1] + b1) + b2
                    else:
                        h = X
                        for k in range(0, len(ps) - 2, 2):
                            h = torch.tanh(h @ ps[k].T + ps[k + 1])
                        z = (h @ ps[-2].T + ps[-1])[:, 0]
                    loss = F.binary_cross_entropy_with_logits(z, T)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                if kind == "W1":
                    return [q.item() for q in ps]
                arrays = [q.detach().numpy() for q in ps]
                return W.w2_flat(list(zip(arrays[0::2], arrays[1::2])))
            return run
        return make


class TreenetTorch(Base):
    """treenet.to_torch(net) on the whole batch, float64, torch.optim.SGD: the exported module
    (its generated forward, torch's autograd) beside the hand-written PyTorch above; on the GPU
    when `device` is "cuda" (a Skip where there is none)."""

    def __init__(self, device="cpu"):
        self.torch = _torch()
        if device == "cuda" and not self.torch.cuda.is_available():
            raise Skip("no CUDA device")
        self.device = device
        self.label = "treenet to_torch module batched, " + (
            "1 thread" if device == "cpu" else "GPU")

    def trainer(self, kind, mode):
        if mode != "batch":
            return None
        torch, treenet = self.torch, _treenet()
        F = torch.nn.functional

        def make(rows, p0, lr):
            module = treenet.to_torch(_net(kind, p0)).to(self.device)
            X = torch.tensor([r[:2] for r in rows], dtype=torch.float64, device=self.device)
            T = torch.tensor([r[2] for r in rows], dtype=torch.float64, device=self.device)

            def run(epochs):
                with torch.no_grad():
                    for q, v in zip(module.parameters(), p0):
                        q.fill_(v)
                opt = torch.optim.SGD(module.parameters(), lr=lr)
                for _ in range(epochs):
                    # BCE on the module's probabilities: the logits' gradient, to rounding
                    loss = F.binary_cross_entropy(module(X), T)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                return [q.item() for q in module.parameters()]
            return run
        return make


# --- JAX ----------------------------------------------------------------------------------------

class Jax(Base):
    """JAX, float64, jit: per sample as a lax.scan over the rows (the loop inside compiled
    code), the batch as one jitted step, W3 as a lax.scan over the layers."""
    label = "JAX jit (lax.scan), 1 thread"

    def __init__(self):
        os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                           "intra_op_parallelism_threads=1")
        try:
            import jax
        except ImportError as exc:
            raise Skip(f"jax not installed ({exc})") from None
        jax.config.update("jax_enable_x64", True)
        jax.config.update("jax_platforms", "cpu")
        self.jax = jax
        self.jnp = jax.numpy
        self._cache = {}

    def _loss(self, kind):
        jnp = self.jnp

        def loss(p, x, t):
            """BCE on the logit, mean over the rows of x (one row: per sample)."""
            if kind == "W1":
                w, wx, wy, b1, b2 = p
                z = w * jnp.maximum(wx * x[..., 0] + wy * x[..., 1] + b1, 0.0) + b2
            else:
                h = x
                for Wm, b in p[:-1]:
                    h = jnp.tanh(h @ Wm.T + b)
                Wm, b = p[-1]
                z = (h @ Wm.T + b)[..., 0]
            return jnp.mean(jnp.maximum(z, 0.0) + jnp.log1p(jnp.exp(-jnp.abs(z))) - t * z)
        return loss

    def _fn(self, kind, mode):
        key = (kind, mode)
        if key not in self._cache:
            jax = self.jax
            grad = jax.grad(self._loss(kind))

            def step(p, xt, lr):
                g = grad(p, xt[0], xt[1])
                return jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g)

            if mode == "sample":
                def epochs_fn(p, X, T, lr, epochs):
                    def epoch(_, p):
                        return jax.lax.scan(lambda q, xt: (step(q, xt, lr), None), p, (X, T))[0]
                    return jax.lax.fori_loop(0, epochs, epoch, p)
            else:
                def epochs_fn(p, X, T, lr, epochs):
                    return jax.lax.fori_loop(0, epochs, lambda _, q: step(q, (X, T), lr), p)
            self._cache[key] = jax.jit(epochs_fn)
        return self._cache[key]

    def trainer(self, kind, mode):
        jnp = self.jnp
        fn = self._fn(kind, mode)

        def make(rows, p0, lr):
            X = jnp.array([r[:2] for r in rows])
            T = jnp.array([r[2] for r in rows])
            if kind == "W1":
                start = jnp.array(p0)
            else:
                start = [(jnp.array(Wm), jnp.array(b)) for Wm, b in W.w2_matrices(p0)]

            def run(epochs):
                p = self.jax.block_until_ready(fn(start, X, T, lr, epochs))
                if kind == "W1":
                    return [float(v) for v in p]
                return W.w2_flat([(self._np(Wm), self._np(b)) for Wm, b in p])
            return run
        return make

    @staticmethod
    def _np(a):
        import numpy as np
        return np.asarray(a)

    def chain(self, weights, x):
        jax, jnp = self.jax, self.jnp
        ws = jnp.array([w for w, _ in weights])
        bs = jnp.array([b for _, b in weights])

        def f(ws, bs):
            return jax.lax.scan(lambda h, wb: (jnp.tanh(wb[0] * h + wb[1]), None),
                                jnp.asarray(x), (ws, bs))[0]
        vg = jax.jit(jax.value_and_grad(f, argnums=(0, 1)))
        t0 = time.perf_counter()
        jax.block_until_ready(vg(ws, bs))  # the first call traces and compiles
        seconds = time.perf_counter() - t0
        out = {}

        def run():
            out["r"] = jax.block_until_ready(vg(ws, bs))

        def result():
            h, (gw, gb) = out["r"]
            grads = [0.0] * (2 * len(weights))
            grads[0::2], grads[1::2] = self._np(gw).tolist(), self._np(gb).tolist()
            return float(h), grads
        return seconds, run, result


# --- the registry -------------------------------------------------------------------------------

IMPLEMENTATIONS = {
    "reference": Reference,
    "python-batch": PythonBatch,
    "treenet-train": TreenetTrain,
    "treenet-interpreted": lambda: TreenetTrain("interpreted"),
    "treenet-python": lambda: TreenetTrain("python"),
    "treenet-numpy": lambda: TreenetTrain("numpy"),
    "treenet-loop": TreenetLoop,
    "treenet-gen-python": lambda: TreenetGenerated("python"),
    "treenet-gen-numpy": lambda: TreenetGenerated("numpy"),
    "treenet-gen-numpy-layers": lambda: TreenetGenerated("numpy", layers=True),
    "micrograd": Micrograd,
    "torch-scalar": TorchScalar,
    "torch-batched": TorchBatched,
    "treenet-torch": TreenetTorch,
    "treenet-torch-gpu": lambda: TreenetTorch("cuda"),
    "jax": Jax,
}
"""Benchmark name -> factory, in the table's order."""

OPTIONAL = {"micrograd", "torch-scalar", "torch-batched", "treenet-torch", "treenet-torch-gpu",
            "jax"}

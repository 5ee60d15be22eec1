"""Training on generated code: the "python" and "numpy" backends of `treenet.train`.

python: one generated function runs a whole epoch (or the rest of one): the loop over samples,
each sample's forward pass, loss, backward pass and, at the end of each batch, the optimizer's
update, with the parameters and the optimizer's memory in local variables. It is built from the
generator's straight-line lines for one sample (`generator._Generator.sample_step`), the loss's
lines (`Loss.code`, for scalar outputs; other losses are called as methods) and the optimizer's
(`Optimizer.code`; an optimizer without code has its `rule` called); a temporary of + - * read
once is written into its one use (`_inline`), and a classification hit reads the target's class,
found once per data set (`Loss.code_class`). The parameters are read
from the nodes when the function starts and written back when it returns, with the values of the
last step that completed. The floating-point operations are the engine's, in its order, so the
parameters come out as the interpreted engine's, bit for bit (the optimizer's memory included).
For plain SGD with a built-in loss and batch_size 1, an unchecked twin (`epoch_unchecked`) runs
first: the same steps with the per-sample checks summed into one number and checked, with the
parameters and the total loss, once at the end (a value that is not finite stays so through
p - r*g and sums); when that fails, or a sum merely overflowed, nothing is written and the
checked `epoch` runs the same samples again.

numpy: each batch is one call of a generated step (`_NumpySteps`): the forward pass, with dense
layers as matrix products and tanh (any element-wise op) over a layer as one call (the
generator's `layers=True`, `flat=True`), the loss over the batch inlined (`Loss.batch_code`;
else a call of `Loss.batch`), the
backward pass seeded by the per-sample derivatives scaled by 1/batch size, and the optimizer's
update (its `Optimizer.code`, element-wise over vectors) of the flat vector of parameters, which
stays a vector, with the optimizer's memory, between epochs, and goes back to the nodes when a
batch fails and when `train` ends (`finish`). A loss that
is not built in, or an optimizer without code, runs batches the older way (`_NumpyBatches`: the
generated forward, the loss's methods, value_and_grad, the optimizer's own `step`). Either way
it agrees with the engine to rounding (numpy and BLAS sum in another order, and numpy's exp, log
and tanh may differ in the last bit).

Both differentiate only the nodes above a parameter, as the engine does in train
(`Graph.backward(inputs=False)`): a step needs no input's gradient.

Errors. The generated code checks what the engine checks (every value and gradient finite, the
loss, the step) but does not say what went wrong: when a number fails in a batch (not finite,
a math domain error or overflow; anything else is a generator bug, and raises), or a parameter
holds no number, the batch is given up with nothing applied, and `train` runs that batch again on the interpreted engine,
which raises the TrainingError the interpreted backend raises (epoch, sample, sub-expression),
or, when the engine disagrees that anything failed (a share the engine skips, numpy's last bit),
completes the batch; the generated code then goes on with the next one. So every backend raises
the same errors at the same sample, and for numpy the sample named is the first of its batch
that fails.

The code of both is cached by the graph's structure (`_Shape`: each node's op class and
children, each leaf's slot or constant, the labels of the comments) and the training's settings,
not by the graph: the same formula parsed again reuses it (a few dozen entries, least recently
used dropped). The code reads no node: the parameters, the learning rates and the optimizer's
memory are passed in by each `epoch`, from the network being trained.

Which networks: `runner` returns None (train then uses the interpreted engine) for a network
with an op that has no code templates (a user's op) or whose nodes hook `on_backward`, an
optimizer that overrides `step`, a network whose output needs no gradient, and (see
`generator.worth_generating`) when the size rule says generating would not pay."""

from collections import OrderedDict
from numbers import Real
import re
import threading
import weakref

from . import generator as _generator
from . import losses as _losses
from . import optimizers as _optimizers
from .errors import EvaluationError, TreenetError
from .nodes import Constant

BACKENDS = ("python", "numpy", "interpreted")
_FLOAT = frozenset([float])


def choose(backend, batch_size):
    """The backend `train(backend=...)` means: None is "python" for batch_size 1, else "numpy"."""
    if backend is None:
        return "python" if batch_size == 1 else "numpy"
    if backend not in BACKENDS:
        import difflib
        hint = difflib.get_close_matches(str(backend), BACKENDS, n=1)
        raise TreenetError(f"unknown backend {backend!r}: expected None or one of "
                           f"{', '.join(map(repr, BACKENDS))}" +
                           (f" (did you mean {hint[0]!r}?)" if hint else ""))
    return backend


def runner(backend, main, graph, loss, opt, params, activation, batch_size, data, passes,
           forced):
    """The generated-code runner for this training (see the module docstring), or None for the
    interpreted engine. `graph` is what the loss reads (the logits' graph when `activation`,
    the function of the logits the network ends in, is set); `forced`: the caller named the
    backend, so the size rule does not apply."""
    if backend == "interpreted" or main._hooked or graph._hooked:
        return None
    if type(opt).step is not _optimizers.Optimizer.step:
        return None
    if [id(q) for q in graph.parameters] != [id(q) for q in params]:
        return None
    if not forced and not _generator.worth_generating(graph, passes):
        return None
    try:
        _generator.leaf_values([n for n in map(graph.nodes.__getitem__, graph.leaf_indices)
                                if isinstance(n, Constant)])
    except EvaluationError:
        return None  # a constant holds no number: the engine says so, naming the sample
    try:
        if backend == "python":
            return _PythonEpochs(main, graph, loss, opt, params, activation, batch_size, data)
        try:
            return _NumpySteps(main, graph, loss, opt, params, activation, batch_size, data)
        except _NoCode:
            return _NumpyBatches(main, graph, loss, opt, params, activation, batch_size, data)
    except _NoCode:
        return None


class _NoCode(Exception):
    """This training cannot run on generated code (train uses the interpreted engine)."""


def _builtin(loss):
    """Whether `loss` is exactly a built-in loss, whose code and arrays describe it."""
    return type(loss) in _losses.LOSSES.values()


def _generator_for(graph, target, **options):
    # a training step differentiates only what is above a parameter, as the engine's
    # backward(inputs=False) does in train: the same numbers checked, the same errors
    try:
        return _generator._Generator(graph, target, inputs=False, **options)
    except TreenetError:
        raise _NoCode from None


# --- helpers the generated code calls -----------------------------------------------------------

def _number(v):
    """A loss's or derivative's result as the engine accepts it: a real number (not a bool)."""
    if isinstance(v, bool) or not isinstance(v, Real):
        raise TypeError("not a number")
    return v


def _scaled(d, width, scale):
    """A vector derivative scaled, as the engine takes it: `width` finite real numbers."""
    if not isinstance(d, (list, tuple)) or len(d) != width:
        raise TypeError("not a list of the output's width")
    out = []
    for di in d:
        if isinstance(di, bool) or not isinstance(di, Real):
            raise TypeError("not a number")
        di = scale * di
        if di - di != 0:
            raise FloatingPointError("not finite")
        out.append(di)
    return out


class _Rule:
    """An optimizer without code: the generated step calls its `rule` (memory kept as is)."""

    code_memory = ("s",)

    def __init__(self, opt):
        self.opt = opt

    def code(self):
        return [], ["{new}, {new_s} = _rule({p}, {g}, {s}, {r}, tn)", "_memory_ok({new_s})"], []

    @staticmethod
    def memory_in(state):
        return (state,)

    @staticmethod
    def memory_out(parts):
        return parts[0]


def _memory_ok(state):
    """FloatingPointError if a float of an optimizer's new memory is not finite."""
    for x in (state if type(state) is tuple else (state,)):
        if x.__class__ is float and x - x != 0:
            raise FloatingPointError("memory not finite")


# --- the code, cached by structure -----------------------------------------------------------

_CODE = OrderedDict()  # (_Shape, settings) -> (source, compiled code), least recently used first
_CODE_SIZE = 32
_CODE_LOCK = threading.Lock()
_SHAPES = weakref.WeakKeyDictionary()  # graph -> its _Shape, found once


class _Shape:
    """What generated code depends on in a graph, hashed once: per node its op class and
    children (positions), per leaf its slot (x3, p5) or its constant's repr, and the labels its
    comments carry; a plain tuple would be hashed again at every lookup."""

    __slots__ = ("key", "hash")

    def __init__(self, key):
        self.key, self.hash = key, hash(key)

    def __hash__(self):
        return self.hash

    def __eq__(self, other):
        return self is other or (isinstance(other, _Shape) and self.hash == other.hash
                                 and self.key == other.key)


def _shape(graph):
    """(the _Shape of `graph`'s structure, its constants' values now): the structure is found
    once per graph (a few C-level passes over its nodes, one Python step per leaf and per named
    node); the constants are read at every call, as the engine reads them, since a Constant's
    value may be changed after the first training."""
    found = _SHAPES.get(graph)
    if found is None:
        nodes = graph.nodes
        slot = {id(n): f"x{k}" for k, n in enumerate(graph.inputs)}
        slot.update({id(n): f"p{k}" for k, n in enumerate(graph.parameters)})
        leaves = tuple([slot.get(id(leaf)) for leaf in map(nodes.__getitem__, graph.leaf_indices)])
        constants = [nodes[i] for i, s in zip(graph.leaf_indices, leaves) if s is None]
        label = _generator._label
        labels = tuple([None if name is None else label(name)
                        for name in [getattr(n, "name", None) for n in nodes]])
        found = _SHAPES[graph] = (_Shape((tuple(map(type, nodes)), tuple(graph.children),
                                          leaves, labels, len(graph.inputs),
                                          len(graph.parameters))), constants)
    structure, constants = found
    # repr: -0.0 and 0.0 are equal but written (and folded) differently
    return structure, tuple([repr(float(c.value)) for c in constants])


def _cached(graph, settings, generate):
    """generate()'s (source, code) for `graph`'s structure and `settings`, made once."""
    key = (_shape(graph), settings)
    with _CODE_LOCK:
        found = _CODE.get(key)
        if found is not None:
            _CODE.move_to_end(key)
            return found
    found = generate()  # outside the lock: it takes milliseconds, and may raise _NoCode
    with _CODE_LOCK:
        _CODE[key] = found
        while len(_CODE) > _CODE_SIZE:
            _CODE.popitem(last=False)
    return found


# --- python: an epoch in one generated function ---------------------------------------------------

class _PythonEpochs:
    """Runs epochs of per-sample training in one generated function (see the module docstring)."""

    def __init__(self, main, graph, loss, opt, params, activation, batch_size, data):
        self.opt, self.params = opt, params
        self.update = opt if opt.code() is not None else _Rule(opt)
        vector = graph.vector_output
        code = None if vector or not _builtin(loss) else loss.code(activation is not None)
        namespace = {"__name__": "treenet_generated", "_number": _number, "_scaled": _scaled,
                     "_rule": opt.rule, "_memory_ok": _memory_ok}
        if code is None:
            fused = activation is not None
            namespace["_value"] = loss.value_from_logits if fused else loss.value
            namespace["_derivative"] = loss.derivative_from_logits if fused else loss.derivative
            if loss.classification:
                namespace["_correct"] = loss.correct
                namespace["_activation"] = activation or (lambda v: v)
        targets = [t for _, t in data]
        if code is not None and not _FLOAT.issuperset(map(type, targets)):
            targets = [_losses._scalar(t) for t in targets]
        # a hit that reads the target's class has it found once, with the samples
        classed = code is not None and code[1] is not None and "{c}" in code[1]
        if classed:
            self.samples = [(*row, t, loss.code_class(t)) for (row, _), t in zip(data, targets)]
        else:
            self.samples = [(*row, t) for (row, _), t in zip(data, targets)]
        self.batch = batch_size
        where = {id(n): k for k, n in enumerate(graph.inputs)}
        unpack = [f"x{where[id(n)]}" if id(n) in where else "_" for n in main.inputs]
        unpack += ["tk", "ck"] if classed else ["tk"]
        width = len(graph.output.children) if vector else None
        # what the source depends on besides the graph's structure: generated once per key
        update = self.update.code()
        key = ("python epoch", None if code is None else (tuple(code[0]), code[1]),
               tuple(map(tuple, update)), self.update.code_memory, self.update is opt,
               tuple(unpack), batch_size, width, loss.classification)

        def generate():
            gen = _generator_for(graph, "python")
            # an update of its own checks its new values, which checks the gradients it reads
            parts = gen.sample_step(guard_parameters=self.update is not opt, summed=True)
            if parts is None:
                raise _NoCode
            forward, backward, z, grads = parts
            source = self._source(gen, forward, backward, z, grads, code, unpack, batch_size,
                                  width, loss.classification)
            # only source the generator wrote: identifiers invented, numbers repr
            return source, compile(source, "<treenet.steps epoch>", "exec")
        found = _cached(graph, key, generate)
        self.source = found[0]
        exec(found[1], namespace)  # noqa: S102
        self._epoch = namespace["epoch"]
        self._fast = namespace.get("epoch_unchecked")
        self._identity = list(range(len(self.samples)))

    def _source(self, gen, forward, backward, z, grads, code, unpack, batch, width, classify):
        n = len(self.params)
        names = [f"p{k}" for k in range(n)]
        memory = self.update.code_memory
        prelude, per_param, extra = self.update.code()
        head = ["def epoch(seq, pos, p, r, mem, total, hits, t):",
                '    """Train on seq, the samples from order[pos] on, in order; (the position reached, '
                'total, hits, t)."""']
        body = []
        if n:
            body.append(", ".join(names) + ", = p")
            body.append(", ".join(f"r{k}" for k in range(n)) + ", = r")
            for j, part in enumerate(memory):
                body.append(", ".join(f"m_{part}{k}" for k in range(n)) + f", = mem[{j}]")
        body += ["base = pos", "end = pos + len(seq)"]
        sample = list(forward)
        if code is not None:
            lines, hit = code
            sample += [line.format(z=z, t="tk") for line in lines]
            hit = None if hit is None else hit.format(z=z, t="tk", c="ck")
        else:
            sample += [f"l = _number(_value(tk, {z}))", f"dl = _derivative(tk, {z})"]
            hit = f"_correct(tk, _activation({z}))" if classify else None
        scale = "sc" if batch > 1 else "1.0"
        if width is None:
            sample.append(f"d = {scale} * _number(dl)" if code is None else
                          ("d = sc * dl" if batch > 1 else "d = dl"))
        else:
            sample.append(f"d = _scaled(dl, {width}, {scale})")
        sample += backward
        # `check` sums what must be finite (a sum that overflows is a false alarm: the engine
        # then runs the batch, with the same numbers): not finite when one of them is not
        finite = ["check", "l"] + (["d"] if width is None else [])
        if batch > 1:
            sample += ["c = " + " + ".join(finite), "if c - c != 0:",
                       "    raise FloatingPointError('not finite')"]
        sample, alias = _propagate_copies(sample)
        grads = [alias.get(g, g) for g in grads]
        # the update from the gradients g (the batch's sums G when batch > 1)
        g_names = grads if batch == 1 else [f"G{k}" for k in range(n)]
        counted = any("tn" in line for line in prelude + per_param)
        update = (["tn = t + 1"] if counted else []) + prelude
        checks = [alias.get(f, f) for f in finite] if batch == 1 else []
        for k in range(n):
            fields = {"p": f"p{k}", "g": g_names[k], "r": f"r{k}", "new": f"n{k}"}
            for part in memory:
                # m_, nm_: not the generator's names (v12 is a node's value)
                fields[part], fields[f"new_{part}"] = f"m_{part}{k}", f"nm_{part}{k}"
            update += [line.format(**fields) for line in per_param]
            checks.append(f"n{k}")
            if self.update is self.opt:  # a float memory, checked like the values
                checks += [f"nm_{part}{k}" for part in memory]
            for e, expr in enumerate(extra):
                update.append(f"e{k}_{e} = " + expr.format(**fields))
                checks.append(f"e{k}_{e}")
        for start in range(0, len(checks), 8):
            terms = " + ".join(checks[start:start + 8])
            update.append(f"c = {terms}" if start == 0 else f"c = c + {terms}")
        if checks:
            update += ["if c - c != 0:", "    raise FloatingPointError('not finite')"]
        for k in range(n):
            update.append(f"p{k} = n{k}" + "".join(f"; m_{part}{k} = nm_{part}{k}"
                                                   for part in memory))
        if counted:
            update.append("t = tn")
        unpack = ", ".join(unpack) + ","  # a tuple even with no inputs: `tk, = ...`
        tail = ["total += l"] + ([f"hits += {hit}"] if hit is not None else [])
        fast = None
        # only inlined losses: a loss that is called might notice being run twice
        if batch == 1 and code is not None and self.update is self.opt and not memory \
                and not prelude and not extra and per_param == ["{new} = {p} - {r} * {g}"]:
            fast = self._unchecked(sample, n, g_names, [alias.get(f, f) for f in finite],
                                   unpack, tail)
        if batch == 1:
            loop = [f"for {unpack} in seq:"] + _indent(
                _inline(sample + update + tail + ["pos += 1"]))
        else:
            loop = ["while pos < end:"]
            inner = ([f"{unpack} = seq[q - base]"] + sample
                     + [f"G{k} += {g}" for k, g in enumerate(grads)]
                     + ["bt += l"] + ([f"bh += {hit}"] if hit is not None else []) + ["q += 1"])
            loop += _indent([f"stop = pos + {batch}", "if stop > end:", "    stop = end",
                             "sc = 1.0 / (stop - pos)"]
                            + [f"G{k} = 0.0" for k in range(n)]
                            + ["bt = total", "bh = hits", "q = pos", "while q < stop:"]
                            + _indent(inner) + update
                            + ["total = bt", "hits = bh", "pos = stop"])
        body += ["try:"] + _indent(loop)
        # a number going wrong (math's domain errors and overflows, the checks' not finite)
        # gives the batch back to the engine, which says what it was; anything else is a bug
        # of the generator, and must not hide as a silent slowdown
        body += ["except (ArithmeticError, ValueError):", "    pass"]
        if n:
            body.append("p[:] = " + ", ".join(names) + ",")
            for j, part in enumerate(memory):
                body.append(f"mem[{j}][:] = " + ", ".join(f"m_{part}{k}" for k in range(n)) + ",")
        body.append("return pos, total, hits, t")
        text = "\n".join(head + _indent(_math_locals(loop, body)))
        if fast is not None:
            text += "\n\n\n" + fast
        text = re.sub(r"\bmath\.(\w+)\(", r"math_\1(", text)
        helpers = [src.rstrip("\n") for name, src in sorted(gen.helpers.items())
                   if f"{name}(" in text]
        return "\n\n\n".join(["import math"] + helpers + [text]) + "\n"

    @staticmethod
    def _unchecked(sample, n, grads, finite, unpack, tail):
        """The source of `epoch_unchecked`: `epoch` for SGD with the per-sample checks summed
        into one number and checked once at the end, with the parameters and the total. A value
        that is not finite stays so: p - r*g is not finite when p or g is not (r is finite),
        and so is a sum, so the end's check sees every one the per-sample checks would have
        seen (a sum that overflows is a false alarm). It returns None when anything failed,
        having written nothing, and `epoch` runs the same samples again, checked."""
        names = [f"p{k}" for k in range(n)]
        head = ["def epoch_unchecked(seq, pos, p, r, total, hits):",
                '    """`epoch` for SGD, checked at the end: (pos, total, hits), or None."""']
        body = []
        if n:
            body.append(", ".join(names) + ", = p")
            body.append(", ".join(f"r{k}" for k in range(n)) + ", = r")
        body.append("acc = 0.0")
        # `l` is summed into total, which is checked at the end
        terms = [f for f in finite if f != "l"]
        step = [f"p{k} = p{k} - r{k} * {grads[k]}" for k in range(n)]
        loop = [f"for {unpack} in seq:"] + _indent(_inline(
            sample + ([f"acc = acc + {' + '.join(terms)}"] if terms else []) + step + tail))
        checks = ["acc", "total"] + names
        end = []
        for start in range(0, len(checks), 8):
            terms = " + ".join(checks[start:start + 8])
            end.append(f"c = {terms}" if start == 0 else f"c = c + {terms}")
        end += ["if c - c != 0:", "    return None"]
        body += ["try:"] + _indent(loop + end)
        body += ["except (ArithmeticError, ValueError):", "    return None"]
        if n:
            body.append("p[:] = " + ", ".join(names) + ",")
        # all of seq ran (a failure returned None above): no count kept per sample
        body.append("return pos + len(seq), total, hits")
        return "\n".join(head + _indent(_math_locals(loop, body)))

    def finish(self):
        """Nothing to write back: each `epoch` call does."""

    def epoch(self, order, pos, total, hits):
        """Train from position `pos` of `order`: (the position reached, total, hits); short of
        the end, the batch starting there failed and nothing of it was applied."""
        opt, params = self.opt, self.params
        try:
            p = _generator.leaf_values(params)
        except EvaluationError:
            return pos, total, hits  # the engine runs the batch, and says which parameter
        r = [float(opt.rate(q)) for q in params]  # a numpy rate would make numpy values
        parts = [self.update.memory_in(opt.state.get(id(q))) for q in params]
        mem = [list(col) for col in zip(*parts)] if params else []
        if not mem:
            mem = [[] for _ in self.update.code_memory]
        t0, start = opt.t, pos
        samples = self.samples
        if pos == 0 and order == self._identity:  # not shuffled: the samples as they are
            seq = samples
        else:
            seq = list(map(samples.__getitem__, order[pos:]))
        done = None if self._fast is None else self._fast(seq, pos, p, r, total, hits)
        if done is not None:
            pos, total, hits = done
            t = t0
        else:  # something failed (or a false alarm): the same samples, checked one by one
            pos, total, hits, t = self._epoch(seq, pos, p, r, mem, total, hits, t0)
        if t == t0:  # the code did not count: a step per batch completed
            t = t0 + len(range(start, pos, self.batch))
        if pos != start:  # steps were taken: write them back
            for k, q in enumerate(params):
                q.value = p[k]
                opt.state[id(q)] = self.update.memory_out([col[k] for col in mem])
            opt.t = t
        return pos, total, hits


def _math_locals(loop, body):
    """`body` headed by math's functions that `loop` calls, bound to locals (math_exp = ...):
    a local is read faster than math's attribute."""
    used = sorted(set(re.findall(r"\bmath\.(\w+)\(", "\n".join(loop))))
    return [f"math_{f} = math.{f}" for f in used] + body


_ASSIGNED = re.compile(r"\s*(\w+) \+?= ")
_COPY = re.compile(r"(\w+) = ([A-Za-z_]\w*)(  #.*)?")
_NAME = re.compile(r"\b[A-Za-z_]\w*\b")


def _propagate_copies(lines):
    """(lines, aliases): each `a = b` (a copy of a name, each assigned once) dropped and a
    written as b below it. Every name is the generator's own; a copy's source is final by
    then (an adjoint is complete when its node hands out its shares)."""
    count = {}
    for line in lines:
        m = _ASSIGNED.match(line)
        if m:
            count[m.group(1)] = count.get(m.group(1), 0) + 1
    alias, out = {}, []
    rename = lambda m: alias.get(m.group(), m.group())  # noqa: E731
    for line in lines:
        if alias:
            code, sep, comment = line.partition("  #")
            line = _NAME.sub(rename, code) + sep + comment
        m = _COPY.fullmatch(line)
        if m and count.get(m.group(1)) == 1 and count.get(m.group(2), 0) <= 1:
            alias[m.group(1)] = m.group(2)
            continue
        out.append(line)
    return out, alias


_INLINE_DEPTH = 4
_TEMPORARY = re.compile(r"v\d+|g_\w+|check")  # the generator's per-sample names
_DEF = re.compile(r"([A-Za-z_]\w*) = (.*)")
# + - * of names and numbers cannot raise, and give the same float wherever they are evaluated
_PURE = re.compile(r"[\w\s.+*()-]+")
_IMPURE = re.compile(r"\*\*|\w\s*\(|[A-Za-z_]\w*\s*\.|\b(?:if|else|and|or|not|in|is|lambda)\b")


def _inline(lines):
    """`lines` (one loop body, top level unindented) with each temporary `a = expr` that is
    read once, later, written into that line as (expr), when expr is only + - * of names and
    numbers and no name it reads is assigned in between: the same operations on the same
    floats, one store and load fewer (each line of a per-sample loop costs about 3%)."""
    codes = [line.partition("  #")[0] for line in lines]
    assigned, used = {}, {}
    for k, code in enumerate(codes):
        m = _ASSIGNED.match(code)
        rhs = code
        if m:
            assigned.setdefault(m.group(1), []).append(k)
            if code[m.end() - 3:m.end()] == " = ":  # a plain assignment: the target is not read
                rhs = code[m.end():]
        for name in _NAME.findall(rhs):
            used.setdefault(name, []).append(k)
    chosen = {}  # name -> (its use's line, {name it reads: from which line it must hold}, depth)
    for k, code in enumerate(codes):
        m = _DEF.fullmatch(code)
        if not m or not _TEMPORARY.fullmatch(m.group(1)):
            continue
        name, expr = m.groups()
        uses = used.get(name, [])
        if assigned[name] != [k] or len(uses) != 1 or uses[0] <= k or \
                not _PURE.fullmatch(expr) or _IMPURE.search(expr):
            continue
        reads, depth = {}, 1
        for r in _NAME.findall(expr):
            if r in chosen:
                for rr, start in chosen[r][1].items():
                    reads[rr] = min(start, reads.get(rr, start))
                depth = max(depth, chosen[r][2] + 1)
            elif not r[0].isdigit():
                reads[r] = min(k, reads.get(r, k))
        end = uses[0]
        # a few levels: a chain of sums nested a thousand deep would not compile
        if depth <= _INLINE_DEPTH and all(not (start < a < end) for r, start in reads.items()
                                          for a in assigned.get(r, ())):
            chosen[name] = (end, reads, depth)
    if not chosen:
        return list(lines)
    texts = {}
    rename = lambda m: f"({texts[m.group()]})" if m.group() in texts else m.group()  # noqa: E731
    out = []
    for line, code in zip(lines, codes):
        m = _DEF.fullmatch(code)
        if m and m.group(1) in chosen:
            texts[m.group(1)] = _NAME.sub(rename, m.group(2))
            continue
        if texts:
            comment = line[len(code):]
            line = _NAME.sub(rename, code) + comment
        out.append(line)
    return out


def _indent(lines, k=4):
    pad = " " * k
    return [pad + line for line in lines]


# --- numpy: a batch at a time ---------------------------------------------------------------------

_COMPILED = weakref.WeakKeyDictionary()  # graph -> {constants: its Compiled numpy functions}


def _numpy_code(main, graph):
    """The Compiled numpy functions of `graph`, cached on it (a changed constant: new ones)."""
    key = ("numpy",) + tuple(n.value for n in graph.nodes if isinstance(n, Constant))
    cache = _COMPILED.setdefault(graph, {})
    code = cache.get(key)
    if code is None:
        code = cache[key] = _generator.Compiled(main, graph, "numpy")
    return code


def evaluate(main, graph, loss, activation, data):
    """(sum of the losses, number classified right or None) over `data` (checked rows), the
    outputs (or logits) computed on a batch (generated numpy code where the size rule allows,
    else the engine row by row)."""
    import numpy as np
    where = {id(n): k for k, n in enumerate(main.inputs)}
    cols = [where[id(n)] for n in graph.inputs]
    X = np.array([row for row, _ in data], dtype=float).reshape(len(data), len(where))[:, cols]
    fused = activation is not None
    if _generator.worth_generating(graph, len(data)) and not graph._hooked:
        z = _numpy_code(main, graph).forward(X)
    else:
        z = _generator.engine_rows(graph, X)
    found = None
    if _builtin(loss):
        width = len(graph.output.children) if graph.vector_output else None
        targets = np.array([_losses._scalar(t) if width is None else _losses._as_vector(t, width)
                            for _, t in data])
        try:
            with np.errstate(all="ignore"):
                found = loss.batch(targets, z, fused)
        except FloatingPointError:
            found = None  # the loss's own methods, below, say which sample and why
    if found is not None:
        values, hits = found[0], found[2]
        return float(np.sum(values)), None if hits is None else int(np.count_nonzero(hits))
    value = loss.value_from_logits if fused else loss.value
    total, right = 0.0, 0
    for i, (zi, (_, t)) in enumerate(zip(z.tolist(), data)):
        try:
            total += _number(value(t, zi))
        except EvaluationError as exc:
            raise _generator._sample_error(exc, i) from exc
        except TypeError:
            raise EvaluationError(f"sample {i}: the {loss.name} loss returned "
                                  f"{value(t, zi)!r:.40}, not a number") from None
        if loss.classification:
            right += bool(loss.correct(t, activation(zi) if fused else zi))
    return total, right if loss.classification else None


class _NumpyBatches:
    """Runs batches on the generated numpy functions (see the module docstring)."""

    def __init__(self, main, graph, loss, opt, params, activation, batch_size, data):
        import numpy as np
        self.np = np
        code = _numpy_code(main, graph)
        if code.reason is not None:
            raise _NoCode
        self.forward = code.function("forward")
        self.value_and_grad = code.function("value_and_grad")
        self.loss, self.opt, self.params, self.batch = loss, opt, params, batch_size
        self.fused, self.activation = activation is not None, activation
        where = {id(n): k for k, n in enumerate(main.inputs)}
        cols = [where[id(n)] for n in graph.inputs]
        X = np.array([row for row, _ in data], dtype=float).reshape(len(data), len(where))
        self.X = X[:, cols]
        self.raw = [t for _, t in data]
        self.width = len(graph.output.children) if graph.vector_output else None
        self.targets = None
        if _builtin(loss):
            if self.width is None:
                self.targets = np.array([_losses._scalar(t) for t in self.raw])
            else:
                self.targets = np.array([_losses._as_vector(t, self.width) for t in self.raw])

    finish = _PythonEpochs.finish

    def epoch(self, order, pos, total, hits):
        """As _PythonEpochs.epoch."""
        np, n = self.np, len(order)
        try:
            _generator.leaf_values(self.params)
        except EvaluationError:
            return pos, total, hits  # the engine runs the batch, and says which parameter
        index = np.asarray(order)
        while pos < n:
            stop = min(pos + self.batch, n)
            try:
                values, hit = self._step(index[pos:stop])
            except (ArithmeticError, ValueError, TypeError):
                return pos, total, hits
            for v in values.tolist():  # the engine's order of summation
                total += v
            if hit is not None:
                hits += int(np.count_nonzero(hit))
            pos = stop
        return pos, total, hits

    def _step(self, rows):
        """One batch: (its losses, its hits or None), the optimizer's step taken; raises (with
        nothing applied) if anything is not finite."""
        np, params = self.np, self.params
        x = self.X[rows]
        p = [q.value for q in params]
        z = self.forward(x, p)
        found = None
        if self.targets is not None:
            with np.errstate(all="ignore"):  # what is not finite is checked, not warned about
                found = self.loss.batch(self.targets[rows], z, self.fused)
        if found is None:
            found = self._per_sample(rows, z)
        values, ds, hit = found
        _, _, gp = self.value_and_grad(x, p, ds * (1.0 / len(rows)))
        if not np.isfinite(gp).all():
            raise FloatingPointError("gradient not finite")
        for q, g in zip(params, gp.tolist()):
            q.grad = g
        try:
            self.opt.step(params)  # all or nothing
        finally:
            for q in params:
                q.grad = 0.0
        return values, hit

    def _per_sample(self, rows, z):
        """(losses, derivatives, hits) from the loss's own methods, sample by sample."""
        np, loss = self.np, self.loss
        value = loss.value_from_logits if self.fused else loss.value
        derivative = loss.derivative_from_logits if self.fused else loss.derivative
        values, ds, hits = [], [], []
        for k, zi in zip(rows.tolist(), z.tolist()):
            t = self.raw[k]
            values.append(_number(value(t, zi)))
            d = derivative(t, zi)
            ds.append(_scaled(d, self.width, 1.0) if self.width else _number(d))
            if loss.classification:
                hits.append(bool(loss.correct(t, self.activation(zi) if self.fused else zi)))
        values, ds = np.array(values, dtype=float), np.array(ds, dtype=float)
        if not (np.isfinite(values).all() and np.isfinite(ds).all()):
            raise FloatingPointError("loss not finite")
        return values, ds, (np.array(hits) if loss.classification else None)



class _NumpySteps:
    """Runs batches as one generated numpy function each: forward with layers as matrix
    products, the loss over the batch as arrays (`Loss.batch`), backward, and the optimizer's
    update (`Optimizer.code`, over arrays) of the flat vector of parameters. The parameters and
    the optimizer's memory stay in vectors between epochs, and go back to the nodes when a
    batch fails (the engine then runs it) and when training ends (`finish`)."""

    def __init__(self, main, graph, loss, opt, params, activation, batch_size, data):
        import numpy as np
        self.np = np
        update = opt.code()
        if update is None or not _builtin(loss):
            raise _NoCode
        self.loss, self.opt, self.params, self.batch = loss, opt, params, batch_size
        self.memory = opt.code_memory
        where = {id(n): k for k, n in enumerate(main.inputs)}
        cols = [where[id(n)] for n in graph.inputs]
        X = np.array([row for row, _ in data], dtype=float).reshape(len(data), len(where))
        self.X = np.ascontiguousarray(X[:, cols])
        width = len(graph.output.children) if graph.vector_output else None
        raw = [t for _, t in data]
        if width is None and _FLOAT.issuperset(map(type, raw)):
            self.T = np.array(raw, dtype=float)  # floats (finite: train checked them)
        else:
            self.T = np.array([_losses._scalar(t) for t in raw] if width is None else
                              [_losses._as_vector(t, width) for t in raw], dtype=float)
        fused = activation is not None
        # the loss inlined (scalar outputs), with its targets prepared once
        self.loss_code = None if width is not None else loss.batch_code(fused)
        prepare = None if self.loss_code is None else self.loss_code[1]
        self.TH = None if prepare is None else prepare(self.T)
        key = ("numpy step", type(loss), fused, tuple(map(tuple, update)), self.memory,
               opt.lr is None, self.loss_code is not None)

        def generate():
            gen = _generator_for(graph, "numpy", layers=True, flat=True)
            # an inlined loss's sum is not finite when the output is not (Loss.batch_code)
            parts = gen.batch_step(guard_output=self.loss_code is None)
            if parts is None:
                raise _NoCode
            source = self._source(gen, parts, update)
            # only source the generator wrote: identifiers invented, numbers repr
            return source, compile(source, "<treenet.steps batch>", "exec")
        found = _cached(graph, key, generate)
        self.source = found[0]
        namespace = {"__name__": "treenet_generated", "_loss": loss.batch, "_fused": fused}
        exec(found[1], namespace)  # noqa: S102
        self._step = namespace["step"]
        self.stale = True

    def _source(self, gen, parts, update):
        forward, backward, z, checked = parts
        prelude, per_param, extra = update
        fields = {"p": "p", "g": "G", "r": "r", "new": "new"}
        for part in self.memory:
            fields[part], fields[f"new_{part}"] = f"m_{part}", f"nm_{part}"
        mem = ", ".join(f"m_{part}" for part in self.memory)
        head = [f"def step(x, t, th, p, r, sc, tn{', ' + mem if mem else ''}):",
                '    """One batch: (new parameters, new memory..., the loss summed, hits)."""',
                '    with np.errstate(all="ignore"):  # what is not finite is checked']
        if gen.batched[gen.out] and not gen.graph.vector_output:
            body = forward + [f"zb = {z}"]  # an array over the batch, as t
        else:
            body = forward + [f"zb = {z} if np.shape({z}) == t.shape else "
                              f"np.broadcast_to({z}, t.shape)"]
        if self.loss_code is not None:
            body += [line.format(z="zb", t="t", th="th") for line in self.loss_code[0]]
        else:
            body += ["l, dl, hit = _loss(t, zb, _fused, False)", "lt = np.add.reduce(l, None)",
                     "hits = -1 if hit is None else int(np.count_nonzero(hit))"]
        body += ["d = dl * sc"] + backward
        # the optimizer's own lines, element-wise over the vectors (its math, numpy's)
        as_array = lambda line: re.sub(r"\bmath\.", "np.", line.format(**fields))  # noqa: E731
        body += [as_array(line) for line in prelude + per_param]
        checks = ["lt"] + ([] if self.loss_code is not None else ["np.add.reduce(dl, None)"])  # see batch_code
        checks += ["np.add.reduce(new, None)"] + [f"np.add.reduce(nm_{part}, None)"
                                                   for part in self.memory]
        checks += [f"np.add.reduce({as_array(e)}, None)" for e in extra]
        if checked:  # (an array, or a number when no checked value depends on an input)
            checks.append("np.add.reduce(check, None)")
        body += ["c = " + " + ".join(checks),
                 "if c - c != 0:  # a sum of what the engine checks: nan or inf if one is",
                 "    raise FloatingPointError('not finite')",
                 "return (new, " + "".join(f"nm_{part}, " for part in self.memory)
                 + "float(lt), hits)"]
        constants = [f"{name} = {text}" for name, text in sorted(gen.constants.items())]
        text = "\n".join(head + _indent(body, 8))
        helpers = [src.rstrip("\n") for name, src in sorted(gen.helpers.items())
                   if f"{name}(" in text]
        return "\n\n\n".join(["import numpy as np\n" + "\n".join(constants)] + helpers
                                + [text]) + "\n"

    def _load(self):
        """The parameters and the optimizer's memory from the nodes, into vectors."""
        np, opt, params = self.np, self.opt, self.params
        # the engine's check: np.array would take "1" and [2.0], and finish write [x] back
        self.p = np.array(_generator.leaf_values(params), dtype=float)
        self.r = opt.lr if opt.lr is not None else np.array([opt.rate(q) for q in params],
                                                            dtype=float)
        parts = [opt.memory_in(opt.state.get(id(q))) for q in params]
        self.m = [np.array(col, dtype=float) for col in zip(*parts)] if params else \
            [np.zeros(0) for _ in self.memory]
        self.t = opt.t
        self.stale = False

    def finish(self):
        """Write the parameters and the optimizer's memory back to the nodes."""
        if self.stale:
            return
        opt = self.opt
        values = self.p.tolist()
        cols = [m.tolist() for m in self.m]
        for k, q in enumerate(self.params):
            q.value = values[k]
            opt.state[id(q)] = opt.memory_out([col[k] for col in cols])
        opt.t = self.t
        self.stale = True

    def epoch(self, order, pos, total, hits):
        """As _PythonEpochs.epoch."""
        if self.stale:
            try:
                self._load()
            except EvaluationError:
                return pos, total, hits  # the engine runs the batch, and says which parameter
        n = len(order)
        TH = self.TH
        if pos == 0 and self.batch >= n:  # the whole set: the order only sums differently
            batches = [(self.X, self.T, TH)]
        else:
            index = self.np.asarray(order)
            batches = ((self.X[rows], self.T[rows], None if TH is None else TH[rows])
                       for rows in (index[k:k + self.batch] for k in range(pos, n, self.batch)))
        for x, t, th in batches:
            try:
                out = self._step(x, t, th, self.p, self.r, 1.0 / len(t), self.t + 1, *self.m)
            except (ArithmeticError, ValueError, TypeError):
                self.finish()  # the engine runs this batch from the nodes' values
                return pos, total, hits
            self.p, self.m, self.t = out[0], list(out[1:-2]), self.t + 1
            total += out[-2]
            if out[-1] >= 0:
                hits += out[-1]
            pos += len(t)
        return pos, total, hits


__all__ = ["BACKENDS", "choose", "runner"]

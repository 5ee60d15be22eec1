"""The forward pass of a network as generated source for any array module: torch, jax.numpy or
numpy, the module given at run time. `treenet.torchnet` and `treenet.jaxnet` run it under their
engines' autograd; the exporters have no per-op code and no op list of their own.

`source(graph)` writes a module that defines `make(xp)`, which returns

    forward(x, p, zeros)    the output over a batch: x of shape (..., n_inputs), p the parameters
                            in `net.parameters` order (0-d arrays), zeros of shape x.shape[:-1]
                            (x's dtype and device); the output has shape (...) or (..., k)

It is one statement per node of the compiled graph, in its topological order, from each op's
"traced" value template (`treenet.templates`; an op without one uses its "array" template),
written so that the engines' autograd differentiates it by treenet's conventions (relu'(0) = 0,
abs'(0) = 0, max and min give the whole gradient to the first extreme argument). Constants and
what depends on them only are folded into literals, python floats, which take the dtype of the
arrays they meet (float32 stays float32). An op whose arguments are all literals (its value did
not fold: log(-1)) reads the first over the batch, so the engine's function gets an array.

Every identifier is the generator's own (x, p, zeros, v12, `_h_` before an op's helper): a
parameter or input name never reaches the source (the exporters pass values by position). A
body over `generator.CHUNK` statements is cut into parts that keep the values in one list
`v[12]`, so no function is giant; nothing recurses on the graph's depth."""

import math
import re

from .errors import TreenetError
from .nodes import Constant, Input, Parameter, check_network
from .generator import (CHUNK, HELPER_PREFIX, find_layers, helper_renamer, indent, literal,
                        fold, leaf_values)
from .templates import fill, resolve

TARGET = "traced"


def source(graph):
    """The module source: `make(xp)` returning `forward(x, p, zeros)` (see the module
    docstring). A TreenetError names the ops that have no template for it."""
    return _Writer(graph).module()


def make(graph, xp):
    """`forward(x, p, zeros)` of `graph` over the array module `xp`, compiled from `source`."""
    namespace = {"__name__": "treenet_traced"}
    # only source the generator wrote, every identifier in it invented
    exec(compile(source(graph), "<treenet.arrayfn>", "exec"), namespace)
    return namespace["make"](xp)


class Export:
    """What an exporter keeps of a network: its compiled IR, and the leaves' names and the
    constants' values at export time, so the network it gives back (`network`) has the same
    structure, inputs and parameter order as the one it wrote, whatever the user does to the
    original afterwards."""

    def __init__(self, net, call):
        check_network(net, call)
        graph = net.graph
        self.ir = graph.ir
        self.input_names = [n.name for n in self.ir.inputs]
        self.parameter_names = [q.name for q in self.ir.parameters]
        self.values = leaf_values(self.ir.parameters)
        self.learning_rates = [q.learning_rate for q in self.ir.parameters]
        self.constants = {i: leaf_values((n,))[0] for i, n in enumerate(self.ir.nodes)
                          if isinstance(n, Constant)}

    def forward(self, xp):
        """`forward(x, p, zeros)` over the array module `xp` (see `make`)."""
        return make(self.ir, xp)

    def network(self, values, call="network"):
        """A new network: the exported one with these parameter values (floats, in parameter
        order), node for node (an op copied with `copy_with`), built in one pass over the IR;
        `call` names the caller when a value is not finite."""
        for name, v in zip(self.parameter_names, values):
            if not math.isfinite(v):  # a network that could not be printed, saved or run
                raise TreenetError(f"{call}: parameter {name!r} is {v}, not a finite "
                                   "number (did training diverge?)")
        ir = self.ir
        new = [None] * len(ir.nodes)
        # the leaves first, in their orders: the new ones are ordered by creation as those were
        inputs = [Input(name=name) for name in self.input_names]
        params = [Parameter(v, name=name, learning_rate=rate) for v, name, rate
                  in zip(values, self.parameter_names, self.learning_rates)]
        for leaf, node in zip(ir.inputs + ir.parameters, inputs + params):
            if id(leaf) in ir.index:
                new[ir.index[id(leaf)]] = node
        for i, (node, kids) in enumerate(zip(ir.nodes, ir.children)):
            if kids is None:
                if new[i] is None:
                    new[i] = Constant(self.constants[i])
                continue
            new[i] = node.copy_with([new[j] for j in kids])
            if node.name is not None:
                new[i].name = node.name
        root = new[ir.output]
        unread = tuple(n for leaf, n in zip(ir.inputs, inputs) if id(leaf) not in ir.index)
        if unread:
            root.declared_inputs = unread
        return root.compile()


_NAME = re.compile(r"\b(?:v\d+|[azwh]_L\d+)\b")


def _live(lines, result):
    """The lines whose value is read, by the result or by a line read: a unit or an op that
    only a layer's matrix form reads is not written again one column at a time."""
    live, kept = set(_NAME.findall(result)), []
    for line in reversed(lines):
        name, _, expr = line.partition(" = ")
        if name in live:
            live.update(_NAME.findall(expr))
            kept.append(line)
    return kept[::-1]


class _Writer:
    """The statements of one graph's forward pass (see the module docstring)."""

    def __init__(self, graph):
        self.graph = graph
        nodes, children = graph.nodes, graph.children
        slot = {id(n): f"x[..., {k}]" for k, n in enumerate(graph.inputs)}
        slot.update({id(n): f"p[{k}]" for k, n in enumerate(graph.parameters)})
        self.consts = [None] * len(nodes)
        self.leaf = {}      # node index -> how it is read (x[..., k], p[k])
        self.ops = {}       # node index -> its value template
        self.helpers = {}   # helper name in the source -> its source
        self.batched = []   # whether the value depends on an input (an array over the batch)
        known, problems = {}, set()
        for i, (node, kids) in enumerate(zip(nodes, children)):
            if kids is None:
                if id(node) in slot:
                    self.leaf[i] = slot[id(node)]
                else:
                    self.consts[i] = leaf_values((node,))[0]  # the engine's check
                self.batched.append(self.leaf.get(i, "").startswith("x"))
                continue
            self.batched.append(any([self.batched[j] for j in kids]))
            self.consts[i] = fold(node, [self.consts[j] for j in kids])
            if self.consts[i] is not None:
                continue
            key = (type(node), len(kids))
            if key not in known:
                known[key] = self._template(*key)
            if known[key] is None:
                problems.add(type(node).__name__)
            else:
                self.ops[i] = known[key]
        if problems:
            raise TreenetError(
                "cannot export this network: op(s) " + ", ".join(sorted(problems)) + " have no "
                f"{TARGET!r} or 'array' code template of their own (see treenet.templates)")
        self.split = len(self.ops) > CHUNK
        self._recover_layers()

    def _recover_layers(self):
        """Dense layers as matrix products: units p*a + p*b + ... + p over the same arguments
        (the generator's `find_layers`) become one `A @ W + b` and a column per unit, so an
        engine makes a few calls per layer instead of a few per weight (a 2-16-16-1 MLP: about
        40 calls instead of 700). Only where every argument is an array over the batch (a stack
        needs arrays of one shape) and the source is not cut into parts (the layer's names live
        in one function)."""
        self.layers, self.unit, self.absorbed, self.layer_at = [], {}, set(), {}
        if self.split:
            return
        for args, units in find_layers(self.graph):
            if (len(units) < 2 and len(args) < 4) or not all(
                    self.batched[j] and self.consts[j] is None for j in args):
                continue
            if any(u[0] not in self.ops for u in units):
                continue
            number = len(self.layers)
            self.layers.append((args, units))
            self.layer_at.setdefault(min(u[0] for u in units), []).append(number)
            for row, (i, _, _, products) in enumerate(units):
                self.unit[i] = (number, row)
                self.absorbed.update(products)

    def _layer(self, number, done):
        """The statements of layer `number`: z_L, its units' values over the batch. Arguments
        that are one element-wise op of another layer's units (tanh of each) are that op on the
        other layer's whole matrix, h_L = tanh(z_L), once (`done` holds the h_L written)."""
        args, units = self.layers[number]
        slot = {id(n): k for k, n in enumerate(self.graph.parameters)}
        nodes = self.graph.nodes
        # W[a, u]: unit u's weight of argument a, so A @ W is (..., units)
        weights = ", ".join(f"p[{slot[id(nodes[w[a]])]}]" for a in range(len(args))
                            for _, w, _, _ in units)
        biases = ", ".join(f"p[{slot[id(nodes[b])]}]" for _, _, b, _ in units)
        L, lines = f"_L{number}", []
        mapped = self._mapped(args)
        if mapped is None:
            lines.append(f"a{L} = xp.stack([{', '.join(self.name(j) for j in args)}], -1)")
        else:
            source, rows = mapped
            if source not in done:
                done.add(source)
                template = self.ops[args[0]]
                lines.append(f"h_L{source} = " + fill(template, [f"z_L{source}"], xp="xp"))
            whole = rows == list(range(len(self.layers[source][1])))
            lines.append(f"a{L} = h_L{source}" + ("" if whole else f"[..., {rows}]"))
        lines += [f"w{L} = xp.reshape(xp.stack([{weights}]), ({len(args)}, {len(units)}))",
                  f"z{L} = a{L} @ w{L} + xp.stack([{biases}])"]
        return lines

    def _mapped(self, args):
        """(the layer, the rows) when every argument is the same one-argument op of a unit of
        one layer, an element-wise op (no vector value, no broadcast against `zeros`); else
        None."""
        nodes, children = self.graph.nodes, self.graph.children
        found = set()
        for j in args:
            kids = children[j]
            if (j not in self.ops or kids is None or len(kids) != 1 or kids[0] not in self.unit
                    or nodes[j].vector_valued or "zeros" in self.ops[j]):
                return None
            found.add((type(nodes[j]), self.ops[j], self.unit[kids[0]][0]))
        if len(found) != 1:
            return None
        source = found.pop()[2]
        return source, [self.unit[children[j][0]][1] for j in args]

    def _template(self, cls, n):
        """The op's value template for n arguments, its helpers registered under `_h_`; None
        when it has none that describes this class (inherited from above its `compute`)."""
        template = resolve(getattr(cls, "code_value", None), TARGET, n)
        if template is None or not cls.owns("code_value", "compute"):
            return None
        helpers = {}
        for name, text in getattr(cls, "code_helpers", {}).items():
            text = resolve(text, TARGET, n)
            if text is not None:
                helpers[name] = text
        rename = helper_renamer(helpers)
        for name, text in helpers.items():
            self.helpers[HELPER_PREFIX + name] = rename(text).replace("{xp}", "xp")
        return rename(template)

    def name(self, i):
        """Node i in the source: a literal, a leaf read, or its value's name."""
        if self.consts[i] is not None:
            return literal(self.consts[i])
        if i in self.leaf:
            return self.leaf[i]
        return f"v[{i}]" if self.split else f"v{i}"

    def statements(self):
        """One line per op node, in topological order, and the returned expression."""
        graph, lines, done = self.graph, [], set()
        for i, kids in enumerate(graph.children):
            for number in self.layer_at.get(i, ()):
                lines += self._layer(number, done)
            if i not in self.ops or i in self.absorbed:
                continue
            if i in self.unit:
                number, row = self.unit[i]
                lines.append(f"{self.name(i)} = z_L{number}[..., {row}]")
                continue
            args = [self.name(j) for j in kids]
            if all(self.consts[j] is not None for j in kids):
                args[0] = f"({args[0]} + zeros)"  # (see the module docstring)
            lines.append(f"{self.name(i)} = " + fill(self.ops[i], args, xp="xp", zeros="zeros"))
        out = len(graph.nodes) - 1
        result = self.name(out)
        if not self.batched[out] and not graph.nodes[out].vector_valued:
            result = f"{result} + zeros"  # a value the inputs do not change, over the batch
        return (_live(lines, result) if self.layers else lines), result

    def module(self):
        graph = self.graph
        lines, result = self.statements()
        doc = (f"forward(x, p, zeros) of a network of {len(graph.nodes)} nodes, "
               f"{len(graph.inputs)} inputs and {len(graph.parameters)} parameters.")
        body = [f'"""{doc}"""', "", "", "def make(xp):",
                '    """The forward pass over the array module xp."""']
        text = "\n".join(lines)
        for name in sorted(self.helpers):
            if f"{name}(" in text:
                body += indent(self.helpers[name].rstrip("\n").split("\n"), 4) + [""]
        if not self.split:
            body += indent(["def forward(x, p, zeros):",
                             '    """The output over the batch x."""'] +
                            indent(lines + [f"return {result}"], 4), 4)
        else:
            parts = [lines[k:k + CHUNK] for k in range(0, len(lines), CHUNK)]
            for c, part in enumerate(parts):
                body += indent([f"def _part_{c + 1}(x, p, zeros, v):",
                                 f'    """Part {c + 1} of the forward pass."""'] +
                                indent(part, 4) + [""], 4)
            calls = [f"_part_{c + 1}(x, p, zeros, v)" for c in range(len(parts))]
            body += indent(["def forward(x, p, zeros):",
                             '    """The output over the batch x."""'] +
                            indent([f"v = [None] * {len(graph.nodes)}"] + calls +
                                    [f"return {result}"], 4), 4)
        body += ["", "    return forward", ""]
        return "\n".join(body)


__all__ = ["source", "make", "Export", "TARGET"]

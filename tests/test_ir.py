"""Issue 9, "a compiled graph that passes can share": the structure of a compiled network is one
plain, immutable IR (treenet.ir), built once per compile by a linear, iterative walk, and read by
the engine, the printer, the sympy bridge and `derivative`; the engine's run-time state lives
beside it, in the Graph. Speed is measured by benchmarks/bench_graph.py, never here: these tests
count builds and visits."""

import gc

import pytest

import treenet
from treenet import (Add, Constant, EvaluationError, Input, Multiply, Output, Parameter, Tanh,
                     TreenetError, ir, parse)
from treenet.errors import FrozenError

SHARED = "h = tanh(p*x + p*y + p)\nsigmoid(p*h + p*h*h + p)"


def chain(layers):
    """h = tanh(p*h + p), `layers` times over the input x, from the node classes."""
    h = Input(0.3, name="x")
    for k in range(layers):
        h = Tanh([Add([Multiply([Parameter(0.5), h]), Parameter(0.1 * (k % 7))])])
    return h


def test_the_ir_is_immutable():
    net = parse(SHARED, seed=0)
    structure = net.graph.ir
    for field in ("nodes", "children", "outputs", "inputs", "parameters", "needs_grad", "leaves",
                  "ops", "index"):
        with pytest.raises(FrozenError, match="immutable"):
            setattr(structure, field, None)
        with pytest.raises(AttributeError):  # FrozenError is one too, as for a frozen dataclass
            delattr(structure, field)
    with pytest.raises(FrozenError):
        structure.values = [1.0]  # no room for run-time state either
    assert isinstance(FrozenError("x"), TreenetError)
    for seq in (structure.nodes, structure.children, structure.outputs, structure.inputs,
                structure.parameters, structure.needs_grad, structure.leaves, structure.ops):
        assert isinstance(seq, tuple)
    assert all(kids is None or isinstance(kids, tuple) for kids in structure.children)
    with pytest.raises(TypeError):
        structure.index[0] = 1  # a read-only view


def test_the_ir_is_plain_structure_in_topological_order():
    x, y = Input(name="x"), Input(name="y")
    h = Tanh([Add([x, y])])
    dead = Tanh([Constant(3.0)])  # reads no input or parameter: needs no derivative
    root = Add([Multiply([h, h]), h, Constant(2.0), dead])
    structure = ir.build(root)
    nodes, children = structure.nodes, structure.children
    assert structure.outputs == (len(nodes) - 1,) and nodes[-1] is root
    assert sum(node is h for node in nodes) == 1  # a shared node once
    for i, kids in enumerate(children):
        if kids is None:
            assert not nodes[i].children
        else:
            assert [nodes[j] for j in kids] == nodes[i].children  # in order, duplicates kept
            assert all(j < i for j in kids)  # children before parents
    assert structure.inputs == (x, y) and structure.parameters == ()
    assert [nodes[i] for i in structure.leaves] == [n for n in nodes if not n.children]
    assert structure.needs_grad == tuple(not isinstance(n, Constant) and n is not dead
                                         for n in nodes)
    assert all(structure.index[id(n)] == i for i, n in enumerate(nodes))


def test_a_compile_builds_the_ir_once_and_every_pass_shares_it(monkeypatch):
    pytest.importorskip("sympy")
    net = parse(SHARED, seed=0)
    before = ir.builds
    net.compile()
    assert ir.builds == before + 1
    graph = net.graph
    assert graph.ir.nodes is graph.nodes and graph.ir.children is graph.children
    net.predict([0.3, -0.2])
    net.backward()
    treenet.funcify(net)
    treenet.funcify(net, params="p")
    treenet.latex(net)
    treenet.to_sympy(net)
    treenet.to_sympy(net, values=True)
    treenet.gradient(net)  # the derivative networks are not compiled: nothing else is built
    treenet.derivative(net, "x")
    # gradcheck's exact chain rule reads the graph's IR: no build, and no walk of its own either
    # (it used to rebuild (nodes, children) from treenet.order.toposort)
    walks = []
    for module in (treenet.order, ir):
        monkeypatch.setattr(module, "walk", lambda roots, walk=module.walk:
                            walks.append(roots) or walk(roots))
    assert treenet.gradcheck(net, [0.3, -0.2]).ok
    assert treenet.gradcheck(net, method="symbolic").ok
    assert walks == []
    assert ir.builds == before + 1
    assert net.graph is graph


def test_the_engine_state_lives_beside_the_ir():
    net = parse(SHARED, seed=0)
    structure = net.graph.ir
    fields = {name: getattr(structure, name) for name in type(structure).__slots__}
    first = net.predict([0.3, -0.2])
    net.backward()
    assert all(getattr(structure, name) is value for name, value in fields.items())
    assert not hasattr(structure, "__dict__")  # nowhere to keep values, adjoints or caches
    assert net.graph.values[-1] == first  # the engine keeps them


def test_the_ir_holds_several_outputs():
    x = Input(name="x")
    p = Parameter(0.5, name="w")
    h = Tanh([Multiply([p, x])])
    a = Add([h, x])
    b = Multiply([h, h])
    structure = ir.build(a, b, h)
    nodes = structure.nodes
    assert [nodes[i] for i in structure.outputs] == [a, b, h]
    assert len(nodes) == 6  # x, w, w*x, h, a, b: the shared part once
    assert nodes[-1] is b  # the last root that is not under another one comes last
    assert structure.inputs == (x,) and structure.parameters == (p,)
    with pytest.raises(TreenetError, match="3 outputs, not one"):
        structure.output


def test_a_vector_output_is_allowed_among_several_outputs_but_read_by_none():
    x = Input(name="x")
    vec = Output([x, Tanh([x])])
    structure = ir.build(vec, Tanh([x]))
    assert structure.vector == (structure.outputs[0],)
    with pytest.raises(TreenetError, match="gives a vector"):
        ir.build(vec, Add([vec, x]))


def test_a_100k_deep_chain_builds_without_recursion():
    depth = 100_000
    h = Input(0.5, name="x")
    for _ in range(depth):
        h = Tanh([h])
    structure = ir.build(h)
    assert len(structure) == depth + 1
    assert structure.children[-1] == (depth - 1,) and structure.children[0] is None
    net = h.compile()
    assert net.graph.ir.outputs == (depth,)
    assert treenet.printer.describe(h).startswith("tanh(tanh(")


class _Counted(Tanh):
    """tanh that counts how often its children are read."""

    reads = 0

    @property
    def children(self):
        _Counted.reads += 1
        return self._kids

    @children.setter
    def children(self, value):
        self._kids = value


def _children_reads(layers):
    h = Input(0.5, name="x")
    for _ in range(layers):
        h = _Counted([Add([h, h])])  # every node shared by two parents: 2**layers paths
    _Counted.reads = 0
    structure = ir.build(h)
    assert len(structure) == 2 * layers + 1
    return _Counted.reads


@pytest.mark.parametrize("layers", [100, 5000])
def test_building_reads_each_node_a_fixed_number_of_times(layers):
    # linear work: each node read once, however large and however shared
    assert _children_reads(layers) == layers


def test_build_leaves_the_garbage_collector_as_it_found_it():
    assert gc.isenabled()
    ir.build(chain(3))
    assert gc.isenabled()
    loop = Add([Input(name="x")])
    loop.children.append(loop)
    with pytest.raises(TreenetError, match="cycle"):
        ir.build(loop)
    assert gc.isenabled()
    gc.disable()
    try:
        ir.build(chain(3))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_building_does_not_name_leaves_compiling_does():
    x, p = Input(), Parameter(0.5)
    root = Multiply([p, x])
    ir.build(root)
    assert (x.name, p.name) == (None, None)
    with pytest.raises(EvaluationError):  # an engine error describes the sub-expression
        Multiply([Constant(1e308), Constant(1e308)]).predict()
    assert (x.name, p.name) == (None, None)
    root.compile()
    assert (x.name, p.name) == ("x0", "p0")

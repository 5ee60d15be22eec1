"""Pictures of a graph (issue 10, "Pictures and display"): `treenet.to_dot(net)` read back by
Graphviz itself (`dot -Tjson`), so what is checked is what Graphviz understood: every node once,
a shared node with several parents, one edge per argument in argument order, values and
gradients in the labels, hostile names still valid DOT; `draw` to files and to SVG text, and the
error when Graphviz's `dot` is missing."""

import html
import json
import os
import re
import subprocess
from pathlib import Path
from xml.etree import ElementTree

import pytest

import treenet
from treenet import Add, Input, Multiply, Parameter, Subtract
from optional import needs_dot

XOR = "input x, y\nsigmoid(linear(tanh(dense(3, x, y))))"


def graphviz_reads(dot_text):
    """(labels by node name, edges as (tail name, head name, headlabel)) as `dot` parsed them."""
    result = subprocess.run(["dot", "-Tjson"], input=dot_text, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and "Error" not in result.stderr, result.stderr
    data = json.loads(result.stdout)
    objects = data.get("objects", [])
    names = {o["_gvid"]: o["name"] for o in objects}
    labels = {o["name"]: _text(o["label"]) for o in objects}
    edges = [(names[e["tail"]], names[e["head"]], e.get("headlabel"))
             for e in data.get("edges", [])]
    assert len(labels) == len(objects)  # no two nodes under one name
    return labels, edges


def _text(label):
    """An HTML-like label as the text it shows: tags dropped, entities and backslashes decoded."""
    lines = re.split(r"<BR/>", label)
    return [html.unescape(re.sub(r"<[^>]*>", "", line)).replace("\\\\", "\\") for line in lines]


@needs_dot
def test_every_node_appears_once_and_every_argument_is_one_edge():
    net = treenet.parse(XOR, seed=0)
    graph = net.graph
    labels, edges = graphviz_reads(treenet.to_dot(net))
    assert len(labels) == len(graph.nodes)
    arguments = sum(len(kids) for kids in graph.children if kids)
    assert len(edges) == arguments
    # each node's incoming edges are its arguments, in argument order
    name = {id(node): f"n{i}" for i, node in enumerate(graph.nodes)}
    for i, kids in enumerate(graph.children):
        into = sorted((int(k or 0), tail) for tail, head, k in edges if head == f"n{i}")
        assert [tail for _, tail in into] == [name[id(graph.nodes[j])] for j in kids or ()]


@needs_dot
def test_a_shared_node_is_one_node_with_two_parents():
    net = treenet.parse("h = tanh(p(0.5)*x)\nh*h + h", seed=0)
    labels, edges = graphviz_reads(treenet.to_dot(net))
    tanh = [n for n, lines in labels.items() if lines[0] == "h = tanh"]  # named as bound
    assert len(tanh) == 1
    parents = [(head, k) for tail, head, k in edges if tail == tanh[0]]
    assert len(parents) == 3  # h*h reads it twice, the sum once
    assert len({head for head, _ in parents}) == 2
    assert len(labels) == 6  # 0.5, x, *, tanh, * (h*h), +


@needs_dot
def test_labels_carry_the_op_the_value_and_the_gradient_after_backward():
    x, w = Input(name="x"), Parameter(0.5, name="w")
    net = Subtract([Multiply([w, x]), x])  # not commutative: the edge numbers tell a from b
    net.predict({"x": 2.0})
    before, _ = graphviz_reads(treenet.to_dot(net))
    assert not any("grad" in " ".join(lines) for lines in before.values())
    net.backward()
    labels, edges = graphviz_reads(treenet.to_dot(net))
    shown = {lines[0]: lines[1] for lines in labels.values()}
    # d(w*x - x)/dx = w - 1, d/dw = x; every node's value as the tutorial writes it
    assert shown == {"x": "data 2.0000 | grad -0.5000", "w": "data 0.5000 | grad 2.0000",
                     "*": "data 1.0000 | grad 1.0000", "-": "data -1.0000 | grad 1.0000"}
    minus = next(n for n, lines in labels.items() if lines[0] == "-")
    into = {k: tail for tail, head, k in edges if head == minus}
    assert labels[into["0"]][0] == "*" and labels[into["1"]][0] == "x"


def test_inputs_parameters_constants_and_ops_are_told_apart():
    net = treenet.parse("x*p(3) + 2", seed=0)
    lines = [line for line in treenet.to_dot(net).splitlines() if "[label=<" in line]
    styles = {}
    for line in lines:
        title = re.search(r"<B>(.*?)</B>", line).group(1)
        styles[title] = re.sub(r".*>, ", "", line)
    assert styles["x"] != styles["p0"] != styles["2"] != styles["*"]
    assert styles["*"].replace(", peripheries=2", "") == styles["+"].replace(", peripheries=2", "")
    assert "peripheries=2" in styles["+"]  # the output


@needs_dot
def test_a_vector_output_shows_its_components():
    net = treenet.parse("softmax(x, 2*x)", seed=0)
    net.predict([0.0])
    labels, edges = graphviz_reads(treenet.to_dot(net))
    out = next(lines for lines in labels.values() if lines[0] == "softmax")
    assert out[1] == "data [0.5000, 0.5000]"
    assert sorted(k for _, head, k in edges if labels[head][0] == "softmax") == ["0", "1"]


HOSTILE = ['a"b', "back\\slash", "{brace}", "<angle>", "pipe|bar", "amp&;", "new\nline",
           "\\N\\G\\L", "quote'", "]"]


@needs_dot
@pytest.mark.parametrize("name", HOSTILE, ids=[repr(n) for n in HOSTILE])
def test_hostile_names_are_still_valid_dot_and_shown_as_written(name):
    x, w = Input(name=name), Parameter(1.5, name=name + "w")
    net = Add([Multiply([w, x]), Parameter(0.25, name=name + "b")])
    net.predict({name: 1.0})
    labels, edges = graphviz_reads(treenet.to_dot(net))
    titles = {lines[0] for lines in labels.values()}
    written = name.replace("\n", "\\n")  # a control character is shown as its escape
    assert {written, written + "w", written + "b"} <= titles
    assert len(labels) == 5 and len(edges) == 4


def test_to_dot_of_a_deep_chain_is_iterative_and_linear():
    src = "h = tanh(p*x + p)\n" + "h = tanh(p*h + p)\n" * 3000 + "h"
    net = treenet.parse(src, seed=0)
    text = treenet.to_dot(net)  # 15,005 nodes, far past the recursion limit
    assert text.count("[label=<") == len(net.graph.nodes)
    assert text.count("->") == sum(len(k) for k in net.graph.children if k)


@needs_dot
def test_draw_writes_svg_and_png_files(tmp_path):
    net = treenet.parse(XOR, seed=0)
    net.predict([1, 0])
    net.backward()
    svg = net.draw(tmp_path / "graph.svg")
    assert svg == os.fspath(tmp_path / "graph.svg")
    assert (tmp_path / "graph.svg").read_text().lstrip().startswith("<?xml")
    png = treenet.draw(net, str(tmp_path / "graph.png"))  # the suffix picks the format
    assert (tmp_path / "graph.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png == str(tmp_path / "graph.png")
    treenet.draw(net, tmp_path / "picture", format="pdf")
    assert (tmp_path / "picture").read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.png", "graph.svg", "picture"]


@needs_dot
def test_draw_without_a_path_returns_the_svg_text():
    net = treenet.parse("sigmoid(p(0.5)*x + p(0.1))")
    svg = net.draw()
    assert isinstance(svg, str) and "<svg" in svg and "sigmoid" in svg and "data 0.0000" in svg
    assert isinstance(net.draw(format="png"), bytes)


def test_draw_without_graphviz_says_how_to_install_it(monkeypatch, tmp_path):
    net = treenet.parse("x*2")
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no `dot` to be found
    with pytest.raises(treenet.TreenetError) as info:
        net.draw(tmp_path / "graph.svg")
    message = str(info.value)
    assert "dot" in message and "apt-get install graphviz" in message
    assert "brew install graphviz" in message and "conda install graphviz" in message
    assert list(tmp_path.iterdir()) == []  # no half-written file
    assert "digraph" in treenet.to_dot(net)  # DOT text needs no Graphviz


@needs_dot
def test_draw_unknown_format_and_mismatched_suffix(tmp_path):
    net = treenet.parse("x*2")
    with pytest.raises(treenet.TreenetError, match="unknown format 'svgg'.*did you mean 'svg'"):
        net.draw(format="svgg")
    with pytest.raises(treenet.TreenetError, match=r"ends in \.png, but the format is 'pdf'"):
        net.draw(tmp_path / "g.png", format="pdf")
    with pytest.raises(treenet.FileError, match="does not exist"):
        net.draw(tmp_path / "no" / "such" / "g.svg")
    with pytest.raises(treenet.TreenetError, match="to_dot"):
        treenet.to_dot("x*2")
    assert list(tmp_path.iterdir()) == []


def test_draw_refuses_a_graph_too_large_for_dot_before_running_it(monkeypatch):
    net = treenet.parse(" + ".join(f"x{i}" for i in range(200)))
    monkeypatch.setattr(treenet.dot, "DRAW_LIMIT", 100)
    monkeypatch.setattr(treenet.dot, "render", lambda *a: pytest.fail("dot was run"))
    with pytest.raises(treenet.TreenetError, match="201 nodes.*to_dot"):
        net.draw()


README = Path(__file__).resolve().parent.parent / "README.md"


def _svg_structure(svg_text):
    """(node: texts shown) and the edges (with their numbers) of an SVG that dot drew: what a
    reader sees, without the coordinates that another Graphviz version may place differently."""
    ns = {"svg": "http://www.w3.org/2000/svg"}
    root = ElementTree.fromstring(svg_text)
    found = {}
    for group in root.iter("{http://www.w3.org/2000/svg}g"):
        kind = group.get("class")
        if kind in ("node", "edge"):
            title = group.find("svg:title", ns).text
            texts = [t.text for t in group.findall(".//svg:text", ns)]
            found[title] = (kind, texts)
    return found


@needs_dot
def test_the_readme_picture_is_what_treenet_draws_for_the_readme_example(tmp_path, monkeypatch):
    text = README.read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "neuron" in b)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(block, "README", "exec"), namespace)
    drawn = _svg_structure((tmp_path / "neuron.svg").read_text(encoding="utf-8"))
    committed = README.parent / "docs" / "neuron.svg"
    assert "](docs/neuron.svg)" in text
    assert _svg_structure(committed.read_text(encoding="utf-8")) == drawn
    shown = {texts[0]: texts[1] for kind, texts in drawn.values() if kind == "node"}
    nodes = [texts for kind, texts in drawn.values() if kind == "node"]
    assert len(nodes) == 9 and len(drawn) == 9 + 8  # 5 leaves, 4 ops; 8 arguments
    # the micrograd tutorial's neuron: o = tanh(x1*w1 + x2*w2 + b) = 0.7071, do/dx1 = -1.5, ...
    assert shown["x1"] == "data 2.0000 | grad -1.5000"
    assert shown["w1"] == "data -3.0000 | grad 1.0000"
    assert shown["x2"] == "data 0.0000 | grad 0.5000"
    assert shown["w2"] == "data 1.0000 | grad 0.0000"
    assert shown["tanh"] == "data 0.7071 | grad 1.0000"
    claimed = re.search(r"^neuron +# (<treenet network: .*>)$", block, re.M).group(1)
    assert repr(namespace["neuron"]) == claimed


@needs_dot
def test_a_path_whose_suffix_is_no_format_is_refused_not_written_as_svg(tmp_path):
    net = treenet.parse("x*2")
    with pytest.raises(treenet.TreenetError, match=r"no format \.pgn.*did you mean \.png"):
        net.draw(tmp_path / "graph.pgn")
    assert not list(tmp_path.iterdir())
    assert net.draw(tmp_path / "graph.v2", format="png") == str(tmp_path / "graph.v2")
    assert (tmp_path / "graph.v2").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert net.draw(tmp_path / "graph").endswith("graph")  # no suffix: the default, svg
    assert (tmp_path / "graph").read_text().lstrip().startswith("<?xml")

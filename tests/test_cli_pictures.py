"""The command's and the REPL's pictures (issue 10): `treenet dot` (DOT read back by Graphviz
itself, every node once; `-o` draws a file), `:dot` in the REPL, and `treenet train --plot`.
They call treenet.to_dot, net.draw and History.plot, which the pictures part of the issue adds."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

import treenet
from treenet import cli
from treenet.repl import run_lines
from optional import needs_dot

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n"


def plain_nodes(dot_text):
    """The node names and the edges of a DOT text, as Graphviz's `dot -Tplain` lays them out."""
    result = subprocess.run(["dot", "-Tplain"], input=dot_text, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    return [w[1] for w in lines if w[0] == "node"], [w[1:3] for w in lines if w[0] == "edge"]


@needs_dot
def test_dot_prints_the_graph_with_every_node_once(capsys):
    # h is shared: one node with two parents; x, y, h, the product and the sum: 5 nodes
    assert cli.main(["dot", "h = x*y; h + h*x", "x=1", "y=2"]) == 0
    out = capsys.readouterr().out
    nodes, edges = plain_nodes(out)
    net = treenet.parse("h = x*y; h + h*x")
    assert len(nodes) == len(set(nodes)) == len(net.graph.nodes)
    assert len(edges) == sum(len(k) for k in net.graph.children if k)


@needs_dot
def test_dot_with_an_output_file_draws_it(capsys, tmp_path):
    target = tmp_path / "graph.png"
    assert cli.main(["dot", "tanh(x*y)", "x=1", "y=2", "-o", str(target)]) == 0
    assert target.read_bytes().startswith(PNG)


@needs_dot
def test_the_repl_dot_command_prints_and_draws(tmp_path):
    target = tmp_path / "net.svg"
    out, err = io.StringIO(), io.StringIO()
    lines = ["net = sigmoid(p(0.5)*x)\n", "net\n", ":dot\n", f":dot net {target}\n"]
    assert run_lines(treenet.Session(), lines, out, err) == 0, err.getvalue()
    dot_text = out.getvalue().split("drew")[0].split("\n", 1)[1]
    nodes, _ = plain_nodes(dot_text)
    assert len(nodes) == len(treenet.parse("sigmoid(p(0.5)*x)").graph.nodes)
    assert "<svg" in target.read_text()


def test_train_plot_draws_the_loss_curve(tmp_path):
    (tmp_path / "d.csv").write_text("x,t\n" + "".join(f"{x},{2 * x}\n" for x in range(5)))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-m", "treenet", "train", "p*x", "d.csv",
                             "--target", "t", "--epochs", "20", "--plot", "loss.png"],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "loss.png").read_bytes().startswith(PNG)

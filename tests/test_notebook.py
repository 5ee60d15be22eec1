"""Jupyter display (issue 10, "Pictures and display"), through a real kernel: a small notebook
written with nbformat and executed by nbclient on ipykernel shows a network and its derivative as
LaTeX (the formula that `treenet.latex` gives in this process: a cross-process check), with the
graph as SVG next to it (Graphviz's `dot` is installed where the tests run)."""

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

import treenet
from optional import HAS_DOT

ROOT = Path(__file__).resolve().parent.parent


def test_a_notebook_shows_a_network_and_its_derivative_as_latex(tmp_path, monkeypatch):
    cells = ["import treenet",
             'net = treenet.parse("sigmoid(p*x + p)", seed=0)',
             "net",
             'treenet.derivative(net, "x")']
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    # the kernel is a fresh process: it imports this checkout's treenet
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    NotebookClient(notebook, kernel_name="python3", timeout=60,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()

    def shown(k):
        (result,) = [o for o in notebook.cells[k].outputs if o.output_type == "execute_result"]
        return result.data

    net = treenet.parse("sigmoid(p*x + p)", seed=0)
    expected = [treenet.latex(net), treenet.latex(treenet.derivative(net, "x"))]
    assert shown(2)["text/latex"] == f"${expected[0]}$"
    assert shown(3)["text/latex"] == f"${expected[1]}$"
    assert shown(2)["text/plain"] == repr(net)
    # Graphviz is installed where the tests run (CI: apt-get install graphviz)
    if HAS_DOT:  # the picture beside the formula, where Graphviz can draw it
        assert "<svg" in shown(2)["image/svg+xml"] and "sigmoid" in shown(2)["image/svg+xml"]
    else:
        assert "image/svg+xml" not in shown(2)

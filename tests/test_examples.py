"""Every example runs (with small epoch counts) and reaches the result its docstring states."""

import importlib.util
from pathlib import Path

import pytest

import treenet

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_opens_with_a_docstring_naming_its_tutorial():
    files = sorted(EXAMPLES.glob("*.py"))
    assert len(files) >= 6
    for path in files:
        doc = load(path.stem).__doc__
        assert doc and "tutorial" in doc.lower(), path.name
        assert hasattr(load(path.stem), "main"), path.name


def test_hackers_guide_gates():
    r = load("hackers_guide_gates").main(quiet=True)
    assert (r["multiply(-2, 3)"], r["add(-2, 3)"], r["max(2, 3)"]) == (-6, 1, 3)
    assert r["d(x*y)/dx at (3, 4)"] == pytest.approx(4, abs=1e-6)
    # the tutorial's numbers: [99.99937812746526, 3.487488988616036, 3.512326611377091]
    value, x, y = r["numerical climb"]
    assert value == pytest.approx(99.99937812746526, abs=1e-10)
    assert (x, y) == (pytest.approx(3.487488988616036, abs=1e-9),
                      pytest.approx(3.512326611377091, abs=1e-9))
    value, x, y = r["analytic climb"]
    assert value > 99.999 and abs(x - 3.49) < 0.01 and abs(y - 3.51) < 0.01
    assert r["circuit"] == -12 and r["circuit grads"] == [-4.0, -4.0, 3.0]


def test_celsius_and_line():
    r = load("celsius_and_line").main(epochs=10, samples=200, quiet=True)
    assert r["weight"] == pytest.approx(0.5556, abs=1e-4)
    assert r["bias"] == pytest.approx(-17.78, abs=1e-2)
    assert abs(r["celsius(32)"]) < 1e-3
    assert r["train_model accuracy"] >= 0.95 and r["train accuracy"] >= 0.95
    assert r["predictions"][(1, 0)] < 0.5 < r["predictions"][(0, 1)]
    assert r["predictions"][(-5, 3)] > 0.5


def test_micrograd_neuron():
    r = load("micrograd_neuron").main(quiet=True)
    assert r["o"] == pytest.approx(0.7071, abs=1e-4)
    g = r["grads"]
    assert g["x1"] == pytest.approx(-1.5) and g["w1"] == pytest.approx(1.0)
    assert g["x2"] == pytest.approx(0.5) and g["w2"] == 0.0 and g["b"] == pytest.approx(0.5)
    for name, value in g.items():
        assert r["numeric"][name] == pytest.approx(value, abs=1e-6)
        assert r["manual"][name] == pytest.approx(value, abs=1e-12)


def test_two_layer_mlp():
    r = load("two_layer_mlp").main(epochs=100, quiet=True)
    history = r["history"]
    assert history.loss[0] > 0.1 and history.loss[-1] < 0.01
    assert isinstance(r["net"].predict([0.5, 0.5]), list)
    assert r["twin_history"].loss == history.loss  # the Python-built twin, bit for bit


def test_xor():
    r = load("xor").main(epochs=300, quiet=True)
    assert r["history"].loss[-1] < 0.05
    assert [round(p) for p in r["predictions"]] == [0, 1, 1, 0]
    assert r["roundtrip"] is True


def test_softmax_blobs():
    r = load("softmax_blobs").main(epochs=30, quiet=True)
    assert r["accuracy"] >= 0.95 and r["history"].accuracy[-1] >= 0.95
    assert len(r["net"].predict([0.0, 0.0])) == 3


def test_demo_runs_and_prints_the_trained_network(capsys):
    from treenet.demo import run
    assert run(["--quiet"]) == 0
    out = capsys.readouterr().out
    assert "trained network:" in out and "predictions:" in out
    table = out.split("predictions:\n")[1].splitlines()[1:]
    rows = [line.split() for line in table[:4]]
    assert [round(float(row[-1])) for row in rows] == [int(float(row[-2])) for row in rows]
    assert run(["sigmoid(x +", "--quiet"]) == 2


def test_demo_refuses_a_save_path_in_a_missing_folder_before_training(capsys, tmp_path):
    # issue 7: `--save missing/dir/x.tn` failed with a raw error after the whole training run
    from treenet.demo import run
    target = tmp_path / "missing" / "dir" / "x.tn"
    assert run(["--quiet", "--save", str(target)]) == 2
    out, err = capsys.readouterr()
    assert "does not exist" in err and str(target) in err and "Traceback" not in err
    assert "training:" not in out  # refused before anything was trained
    assert not (tmp_path / "missing").exists()


def test_demo_saves_where_asked(capsys, tmp_path):
    from treenet.demo import run
    target = tmp_path / "xor.tn"
    assert run(["--quiet", "--epochs", "5", "--save", str(target)]) in (0, 1)
    assert f"saved to {target}" in capsys.readouterr().out
    assert treenet.load(target).funcify() != ""

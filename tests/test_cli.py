"""The `treenet` command (issue 10): each subcommand's output against the formula's own math,
exit codes (0, 1 for an error, 2 for usage), errors on stderr without a traceback, EXPR from a
`.tn` file and from stdin, training on a CSV file written here, and a fast start. The subprocess
runs are few (each costs a fresh interpreter); the rest call treenet.cli.main in-process."""

import math
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import treenet
from treenet import cli
from treenet.ops import Operation

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def treenet_cmd(*args, stdin=None, cwd=None):
    """Run `python -m treenet ARGS` in a fresh interpreter (works with or without an install)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "treenet", *args], input=stdin,
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def run_main(capsys, *args):
    status = cli.main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def rows(table):
    """{variable: float} from a gradient table (after its header and rule)."""
    return {name: float(v) for name, v in (line.split() for line in table.splitlines()[2:])}


# --- the subcommands ------------------------------------------------------------------------

def test_eval_prints_the_value():
    result = treenet_cmd("eval", "x*2", "x=3")
    assert (result.returncode, result.stdout, result.stderr) == (0, "6\n", "")


def test_grad_prints_every_gradient_as_a_table():
    result = treenet_cmd("grad", "x*y", "x=2", "y=3")
    assert result.returncode == 0, result.stderr
    assert rows(result.stdout) == {"x": 3.0, "y": 2.0}


def test_check_prints_the_three_way_table_and_exits_0_when_it_passes():
    result = treenet_cmd("check", "tanh(x*y)", "x=0.5", "y=2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["variable", "autodiff", "symbolic", "finite"]
    x_row = lines[2].split()
    # d/dx tanh(xy) = y (1 - tanh(xy)^2) at (0.5, 2)
    assert float(x_row[1]) == pytest.approx(2 * (1 - math.tanh(1.0) ** 2), rel=1e-9)
    assert lines[-1].startswith("ok: 2 variables")


def test_check_exits_1_when_the_backward_pass_is_wrong(capsys, registry):
    class Twice(Operation):
        """twice(x) = 2x, with a wrong derivative (3) on purpose."""
        call = "twicebad"

        def compute(self, xs):
            return 2 * xs[0]

        def partials(self, xs, out):
            return [3.0]

        def to_sympy(self, args):
            return 2 * args[0]

    status, out, _ = run_main(capsys, "check", "twicebad(x)", "x=1")
    assert status == 1 and "FAILED" in out


def test_print_latex_and_derive(capsys):
    status, out, _ = run_main(capsys, "print", "p(0.5)*x + p(-2)")
    assert (status, out) == (0, "0.5*x - 2\n")
    status, out, _ = run_main(capsys, "print", "p(0.5)*x + p(-2)", "--params", "name")
    assert out == "p0*x + p1\n"
    status, out, _ = run_main(capsys, "latex", "sigmoid(p(0.5)*x)")
    assert out.startswith(r"\sigma\left(")
    status, out, _ = run_main(capsys, "derive", "x^3 + x*y", "--wrt", "x")
    assert status == 0
    assert treenet.parse(out).predict({"x": 2, "y": 5}) == 3 * 2 ** 2 + 5
    status, _, err = run_main(capsys, "derive", "x*y")
    assert status == 1 and "--wrt" in err


def test_a_vector_output_needs_a_component(capsys):
    status, out, _ = run_main(capsys, "grad", "[x*y, x]", "x=2", "y=3", "--component", "0")
    assert status == 0 and rows(out) == {"x": 3.0, "y": 2.0}
    status, _, err = run_main(capsys, "grad", "[x*y, x]", "x=2", "y=3")
    assert status == 1 and "--component" in err
    status, out, _ = run_main(capsys, "eval", "[x*y, x]", "x=2", "y=3")
    assert out == "[6, 2]\n"


def test_expr_from_a_tn_file_and_from_stdin(tmp_path):
    program = tmp_path / "model.tn"
    program.write_text("input v[2]\nh = v[0] * v[1]\nh + 1\n")
    result = treenet_cmd("eval", str(program), "v=2,5")
    assert (result.returncode, result.stdout) == (0, "11\n"), result.stderr
    result = treenet_cmd("grad", "-", "x=2", stdin="x^2\n")
    assert result.returncode == 0 and rows(result.stdout) == {"x": 4.0}, result.stderr


def test_train_on_a_csv_prints_loss_accuracy_and_formula_and_saves(tmp_path):
    rng = random.Random(1)
    lines = ["a,b,label"]
    for _ in range(60):
        a, b = rng.uniform(-1, 1), rng.uniform(-1, 1)
        lines.append(f"{a:.4f},{b:.4f},{int(a + b > 0)}")
    (tmp_path / "data.csv").write_text("\n".join(lines) + "\n")
    result = treenet_cmd("train", "sigmoid(linear(a, b))", "data.csv", "--target", "label",
                         "--loss", "bce", "--optimizer", "adam", "--lr", "0.1", "--epochs", "100",
                         "--batch-size", "4", "--seed", "0", "--save", "model.tn", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "accuracy" in out and "loss" in out and "sigmoid(" in out
    net = treenet.load(tmp_path / "model.tn")
    assert [i.name for i in net.inputs] == ["a", "b"]
    assert net.predict({"a": 0.8, "b": 0.3}) > 0.9 and net.predict({"a": -0.8, "b": -0.3}) < 0.1


def test_train_refuses_a_missing_column_and_a_bad_cell(capsys, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("x,y,label\n1,2,0\n")
    status, _, err = run_main(capsys, "train", "sigmoid(linear(x, z))", str(data))
    assert status == 1 and "no column 'z'" in err and "x, y, label" in err
    data.write_text("x,label\n1,0\n2,one\n")
    status, _, err = run_main(capsys, "train", "sigmoid(p*x)", str(data), "--target", "label")
    assert status == 1 and "line 3, column 'label'" in err


# --- errors and usage -----------------------------------------------------------------------

def test_a_bad_formula_prints_the_caret_on_stderr_and_exits_1_without_a_traceback():
    result = treenet_cmd("eval", "sigmod(x)", "x=1")
    assert result.returncode == 1 and result.stdout == ""
    assert "did you mean 'sigmoid'" in result.stderr and "    ^" in result.stderr
    assert "Traceback" not in result.stderr


def test_user_errors_exit_1_with_a_message(capsys, tmp_path):
    bad = tmp_path / "bad.tn"
    bad.write_text("x +\n")
    cases = [(["eval", "x*2", "X=1"], "did you mean 'x'"),
             (["eval", "x*2", "x=abc"], "finite number"),
             (["eval", "x*y", "x=1"], "no value for y"),
             (["eval", "log(x)", "x=-1"], "log"),
             (["eval", str(tmp_path / "missing.tn")], "missing.tn"),
             (["eval", str(bad), "x=1"], f"{bad}: line 1"),
             (["train", "p*x", str(tmp_path / "none.csv")], "none.csv")]
    for args, message in cases:
        status, out, err = run_main(capsys, *args)
        assert (status, out) == (1, ""), args
        assert message in err and err.startswith("treenet: "), (args, err)


def test_an_unknown_subcommand_gets_a_did_you_mean_and_exit_2():
    result = treenet_cmd("evl", "x")
    assert result.returncode == 2
    assert "did you mean 'eval'" in result.stderr and "Traceback" not in result.stderr


def test_usage_errors_exit_2(capsys):
    for args in (["eval"], ["train", "x", "d.csv", "--epochs", "many"], ["print", "x", "--zz"]):
        status, _, err = run_main(capsys, *args)
        assert status == 2 and "usage:" in err, args


def test_every_subcommand_has_help_with_an_example_and_there_is_a_version(capsys):
    for name in cli.EXAMPLES:
        if name == "demo":
            continue  # the demo's own parser answers its --help
        status, out, _ = run_main(capsys, name, "--help")
        assert status == 0 and "example:\n  treenet " + name in out, name
    status, out, _ = run_main(capsys, "--version")
    assert (status, out) == (0, f"treenet {treenet.__version__}\n")


def test_no_arguments_and_demo_run_the_demo(capsys, monkeypatch):
    from treenet import demo
    calls = []
    monkeypatch.setattr(demo, "run", lambda argv: calls.append(argv) or 0)
    assert cli.main([]) == 0
    assert cli.main(["demo", "--task", "line"]) == 0
    assert cli.main(["--task", "line"]) == 0  # the demo's flags, once the top level's
    assert calls == [[], ["--task", "line"], ["--task", "line"]]


# --- start-up -------------------------------------------------------------------------------

def test_eval_and_grad_import_nothing_heavy():
    code = textwrap.dedent("""
        import sys
        from treenet.cli import main
        main(["eval", "x*2", "x=3"])
        main(["grad", "x*y", "x=2", "y=3"])
        heavy = ("sympy", "mpmath", "numpy", "prompt_toolkit", "pygments", "graphviz",
                 "matplotlib")
        print(sorted(m for m in heavy if m in sys.modules))
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"


# --- the README -----------------------------------------------------------------------------

def _readme_commands():
    """(command line, its claimed output) for each `$ treenet ...` in the README's console
    blocks (the lines up to the next `$` line or the end of the block)."""
    found, block = [], None
    for line in README.read_text(encoding="utf-8").split("\n"):
        if line.strip() == "```console":
            block = []
        elif block is not None and line.strip() == "```":
            found.extend(block)
            block = None
        elif block is not None:
            if line.startswith("$ "):
                block.append([line[2:], []])
            elif block:
                block[-1][1].append(line)
    return found


def test_the_readme_command_examples_print_what_they_show(capsys):
    import shlex
    examples = _readme_commands()
    assert len(examples) >= 5
    for command, shown in examples:
        words = shlex.split(command)
        assert words[0] == "treenet", command
        status, out, err = run_main(capsys, *words[1:])
        assert out.rstrip("\n").split("\n") == shown, (command, out, err)

"""Fast start: parsing, evaluating, differentiating and printing a small formula in a fresh
interpreter imports neither sympy nor mpmath (they are imported only by the symbolic bridge and
the gradient checker, when those are used)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _fresh(code):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=env, timeout=120)


def test_small_formula_imports_no_sympy():
    result = _fresh("""
        import sys
        import treenet
        net = treenet.parse("h = tanh(p(0.5)*x + p(0.1))\\nsigmoid(p(2)*h + h)")
        value = net.predict([0.7])
        net.backward()
        text = net.funcify()
        d = treenet.derivative(net, "x").predict({"x": 0.7})
        heavy = sorted(m for m in ("sympy", "mpmath") if m in sys.modules)
        print(heavy, value, d, text, sep="|")
    """)
    assert result.returncode == 0, result.stderr
    heavy, value, d, text = result.stdout.strip().split("|", 3)
    assert heavy == "[]", heavy
    assert 0 < float(value) < 1
    assert float(d) != 0
    assert "tanh" in text


def test_symbolic_bridge_still_imports_sympy_when_used():
    result = _fresh("""
        import sys
        import treenet
        expr = treenet.to_sympy(treenet.parse("tanh(x)"))
        print("sympy" in sys.modules, type(expr).__module__.split(".")[0])
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "sympy"]

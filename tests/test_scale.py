"""Scale: no recursion limit anywhere (a 10,000-deep expression, a 100,000-node chain written with
bindings, all at Python's default recursion limit), parsing time linear in the text, and a short
program that expands exponentially rejected quickly instead of hanging."""

import math
import subprocess
import sys
import textwrap
import time

import pytest

from treenet import parse

DEFAULT_LIMIT = 1000
REPEATS = 20_000  # `h = tanh(p*h + p)`: 5 nodes each, so 100,000 nodes


@pytest.fixture(autouse=True)
def default_recursion_limit():
    """Run at CPython's default limit and check that treenet leaves it alone."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(DEFAULT_LIMIT)
    yield
    after = sys.getrecursionlimit()
    sys.setrecursionlimit(before)
    assert after == DEFAULT_LIMIT


# --- deep nesting -----------------------------------------------------------------------------

def test_ten_thousand_deep_parentheses():
    # the spec allows a clean ParseError here; treenet parses it, and this pins that
    net = parse("(" * 10_000 + "x" + ")" * 10_000)
    assert net.predict([2.5]) == 2.5


def test_ten_thousand_deep_sum():
    net = parse("x + (" * 10_000 + "x" + ")" * 10_000)
    net.predict([1.5])
    net.backward()
    assert (net.predict([1.5]), net.inputs[0].grad) == (10_001 * 1.5, 10_001.0)


def test_ten_thousand_deep_calls_print_and_parse_back():
    net = parse("relu(" * 10_000 + "x" + ")" * 10_000)
    assert parse(net.funcify()).predict([0.75]) == 0.75


# --- the 100,000-node chain ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def chain():
    net = parse("h = x\n" + "h = tanh(p*h + p)\n" * REPEATS + "h", seed=5)
    for k, q in enumerate(net.parameters):
        q.value = 1.0 if k % 2 == 0 else 0.0  # weights 1, biases 0: h <- tanh(h)
    return net


def _reference(x):
    """Values h_0 = x, h_k = tanh(h_{k-1}), and d h_n / d x, by a plain loop."""
    hs = [x]
    for _ in range(REPEATS):
        hs.append(math.tanh(hs[-1]))
    dx = 1.0
    for h in hs[1:]:
        dx *= 1.0 - h * h
    return hs, dx


def test_chain_has_a_hundred_thousand_nodes(chain):
    assert len(chain.graph.nodes) >= 5 * REPEATS
    assert len(chain.parameters) == 2 * REPEATS


def test_chain_compiles_again(chain):
    assert chain.compile() is chain
    assert len(chain.parameters) == 2 * REPEATS


def test_chain_predicts(chain):
    hs, _ = _reference(0.5)
    assert chain.predict([0.5]) == pytest.approx(hs[-1], rel=1e-12)


def test_chain_backpropagates(chain):
    hs, dx = _reference(0.5)
    chain.zero_grad()
    chain.predict([0.5])
    chain.backward()
    assert chain.inputs[0].grad == pytest.approx(dx, rel=1e-9)
    # the last bias: d out / d b_n = 1 - h_n^2
    assert chain.parameters[-1].grad == pytest.approx(1.0 - hs[-1] ** 2, rel=1e-12)
    # the first weight: d out / d w_1 = x * d out / d x
    assert chain.parameters[0].grad == pytest.approx(0.5 * dx, rel=1e-9)


def test_chain_prints(chain):
    text = chain.funcify()
    assert text.count("tanh(") == REPEATS
    assert len(text) < 60 * REPEATS


# --- work -----------------------------------------------------------------------------------------
# Speed is the benchmarks' business; what a test can pin without a clock is that the parser's work
# (every Python and C function call it makes) grows linearly with the text.

def _parse_calls(n):
    text = "h = x\n" + "h = tanh(p*h + p)\n" * n + "h"
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(count)
    try:
        parse(text)
    finally:
        sys.setprofile(None)
    return calls


def test_parsing_work_is_linear_in_the_text():
    small, large = _parse_calls(1_000), _parse_calls(4_000)
    assert 3.5 < large / small < 4.5, (small, large)


def test_exponentially_expanding_program_is_refused_quickly():
    # 23 lines, each macro calling the previous one twice: 2^22 copies of the first body.
    # The text is tiny, so it must be parsed or refused in seconds, not after minutes.
    program = "def f0(a) = a*a\n" + "".join(
        f"def f{k}(a) = f{k - 1}(a) + f{k - 1}(a)\n" for k in range(1, 23)) + "f22(x)"
    code = textwrap.dedent(f"""
        import treenet
        try:
            treenet.parse({program!r})
        except treenet.TreenetError as exc:
            print(type(exc).__name__)
        else:
            print("parsed")
    """)
    try:
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                timeout=60, env=_env())  # a hang guard, not a speed test
    except subprocess.TimeoutExpired:
        pytest.fail("a 23-line program was neither parsed nor refused within 60 s")
    # refused by the expansion budget (a fixed count, so this does not depend on the machine)
    assert result.stdout.strip() == "ParseError", result.stderr


def _env():
    import os
    import treenet
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(treenet.__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env

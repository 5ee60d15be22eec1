"""Engine speed: parse throughput, compile, forward and backward, against hand-written Python
for the same network measured in the same run.

    python3 benchmarks/bench_engine.py [--quick]

The baseline is what a person would write by hand for the network (straight-line math with the
chain rule spelled out); the ratio says how far the general engine is from it, which is the gap a
code generator would close."""

import math
from pathlib import Path
import random
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
import treenet  # noqa: E402
from _bench_work import chain_python  # noqa: E402  (the reference bench.py times too)


def timed(fn, repeat):
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def chain_program(depth):
    return "h = x\n" + "h = tanh(p*h + p)\n" * depth + "h"


def main(argv):
    quick = "--quick" in argv
    depth = 2000 if quick else 20000
    repeat = 3
    rows = []

    src = chain_program(depth)
    treenet.parse("x")  # builds the LALR tables once, as any later parse would find them
    t_parse = timed(lambda: treenet.parse(src, seed=0), 1)
    rows.append(("parse", f"{len(src) / 1e6:.2f} MB", t_parse, None,
                 f"{len(src) / 1e6 / t_parse:.2f} MB/s"))

    net = treenet.parse(src, seed=0)
    t_compile = timed(net.compile, repeat)
    nodes = len(net.graph)
    rows.append(("compile", f"{nodes} nodes", t_compile, None,
                 f"{t_compile / nodes * 1e6:.2f} us/node"))

    params = net.parameters
    weights = [(params[2 * k].value, params[2 * k + 1].value) for k in range(depth)]
    xs = [random.Random(k).uniform(-1, 1) for k in range(repeat)]
    counter = iter(range(10 ** 9))

    def forward():
        net.predict([xs[0] + next(counter) * 1e-9])  # a new input each time: no cache hit

    def backward():
        net.zero_grad()
        net.backward()

    t_fwd = timed(forward, repeat)
    t_bwd = timed(backward, repeat)
    t_hand = timed(lambda: chain_python(weights, xs[0]), repeat)
    # the hand-written version does forward and backward together; compare like with like
    rows.append(("forward", f"{nodes} nodes", t_fwd, None, f"{t_fwd / nodes * 1e6:.2f} us/node"))
    rows.append(("backward", f"{nodes} nodes", t_bwd, None, f"{t_bwd / nodes * 1e6:.2f} us/node"))
    rows.append(("forward+backward", "vs hand-written", t_fwd + t_bwd, t_hand,
                 f"{(t_fwd + t_bwd) / t_hand:.1f}x hand-written"))

    value, _ = chain_python(weights, 0.3)
    assert abs(net.predict([0.3]) - value) < 1e-12  # the baseline computes the same thing

    print(f"{'what':18} {'size':>16} {'treenet s':>11} {'baseline s':>11}  ratio")
    for what, size, t, base, note in rows:
        base_s = f"{base:11.4f}" if base is not None else f"{'':>11}"
        print(f"{what:18} {size:>16} {t:11.4f} {base_s}  {note}")


if __name__ == "__main__":
    main(sys.argv[1:])

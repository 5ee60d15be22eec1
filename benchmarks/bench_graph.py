"""Graph building and the engine on deep chains (issue 9's W3): compile() per node at 1k to 500k
nodes, and forward+backward of the 100,000-layer chain against hand-written Python, timed in
the same run.

    python3 benchmarks/bench_graph.py [--quick]

The network is the chain h = tanh(p*h + p), five nodes a layer, built from the node classes (so
parse time does not count). Building must be linear: the per-node cost of compile() at 500,000
nodes within 1.3x of that at 10,000 (the "vs 10k" column). Forward+backward is compared with a
hand-written loop (math.tanh and the chain rule spelled out), each engine run followed at once
by a reference run, and the median of those paired ratios reported, so the load of a shared
machine moves both sides alike; times are CPU time (time.process_time), which a
shared machine disturbs less than wall time. --quick stops at 100,000 nodes and 10,000 layers."""

import gc
import math
from pathlib import Path
import random
import statistics
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
import treenet  # noqa: E402
from _bench_work import chain_python  # noqa: E402  (the reference bench.py times too)
from treenet import Add, Input, Multiply, Parameter, Tanh  # noqa: E402


def chain(layers, seed=0):
    """h = tanh(p*h + p), `layers` times, over the input x: 5 * layers + 1 nodes."""
    rng = random.Random(seed)
    h = Input(0.3, name="x")
    for _ in range(layers):
        h = Tanh([Add([Multiply([Parameter(rng.uniform(-1, 1)), h]),
                       Parameter(rng.uniform(-1, 1))])])
    return h


def best(fn, repeat):
    out = math.inf
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        out = min(out, time.process_time() - t0)
    return out


def building(sizes):
    """(nodes, best compile() seconds) per chain size: each time a fresh network, as a user
    compiles one (a recompile would also count freeing the old graph), collected first, so the
    garbage collector's look at the newly built nodes is not charged to compile()."""
    rows = []
    for layers in sizes:
        repeat = 15 if layers <= 20_000 else 3
        t = math.inf
        for _ in range(repeat):
            net = chain(layers)
            gc.collect()
            t = min(t, best(net.compile, 1))
            nodes = len(net.graph)
            del net
            gc.collect()
        rows.append((nodes, t))
    return rows


def engine_vs_hand(layers, pairs):
    """(first compile s, median engine fwd+bwd s, median hand s, median paired ratio, max error)."""
    net = chain(layers)
    gc.collect()  # as in building()
    t0 = time.process_time()
    net.compile()
    t_compile = time.process_time() - t0
    params = net.parameters
    weights = [(params[2 * k].value, params[2 * k + 1].value) for k in range(layers)]
    x0 = 0.3
    net.predict([x0])
    net.zero_grad()
    net.backward()
    value, grads = chain_python(weights, x0)
    # the reference computes the same thing: value and every parameter's gradient (its grads
    # are [dw1, db1, dw2, ...] from the input up, the parameters' order)
    err = max([abs(net.forward() - value)] + [abs(q.grad - g) for q, g in zip(params, grads)])
    t_engine, t_hand, ratios = [], [], []
    for r in range(pairs):
        x = x0 + (r + 1) * 1e-9  # a new input each time: no cache hit

        def run():
            net.predict([x])
            net.zero_grad()
            net.backward()
        a = best(run, 1)
        b = best(lambda: chain_python(weights, x), 1)
        t_engine.append(a)
        t_hand.append(b)
        ratios.append(a / b)
    return (t_compile, statistics.median(t_engine), statistics.median(t_hand),
            statistics.median(ratios), err)


def main(argv):
    quick = "--quick" in argv
    sizes = [200, 2_000, 20_000] if quick else [200, 2_000, 20_000, 100_000]
    treenet.parse("x")  # imports and tables, once
    rows = building(sizes)
    per10k = next(t / n for n, t in rows if n == 10_001)
    print(f"{'graph building':24} {'nodes':>9} {'compile s':>10} {'us/node':>9} {'vs 10k':>7}")
    for n, t in rows:
        print(f"{'chain h = tanh(p*h + p)':24} {n:9d} {t:10.4f} {t / n * 1e6:9.2f} "
              f"{t / n / per10k:7.2f}")
    layers = 10_000 if quick else 100_000
    t_compile, t_engine, t_hand, ratio, err = engine_vs_hand(layers, 5 if quick else 7)
    nodes = 5 * layers + 1
    print()
    print(f"W3 {layers} layers ({nodes} nodes): compile() {t_compile:.3f} s "
          f"({t_compile / nodes * 1e6:.2f} us/node)")
    print(f"W3 forward+backward: engine {t_engine * 1e3:.1f} ms, hand-written "
          f"{t_hand * 1e3:.1f} ms: {ratio:.1f}x hand-written (median of paired ratios; "
          f"max |difference| {err:.1e})")


if __name__ == "__main__":
    main(sys.argv[1:])

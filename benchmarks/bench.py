"""treenet against hand-written code, micrograd, PyTorch and JAX on the same workloads, in one run.

    python benchmarks/bench.py [--quick] [--only NAME,NAME] [--json PATH]

Workloads (_bench_work.py): one data set of 1000 rows (x, y, t), fixed initial parameters shared
by every implementation, BCE on the logit, plain SGD with lr 0.1, no shuffling:
- W1  sigmoid(p*relu(p*x + p*y + p) + p): per-sample SGD (one step per row), and full batch
      (one step per epoch on the mean loss of all 1000 rows).
- W2  sigmoid(linear(tanh(dense(16, tanh(dense(16, x, y)))))), a 2-16-16-1 tanh MLP written as
      a scalar tree (337 parameters): per sample and full batch.
- W3  the chain h = tanh(p*h + p) of 1k / 10k / 100k layers: the time to compile, and one
      forward + backward.
- graph building: treenet's compile() of that chain at 1k-500k nodes, per node.

Implementations (_bench_impls.py), each in its own process (its results come back as JSON):
the hand-written references (straight-line Python per sample, numpy for the batch, the Python
loop for W3, an iterative topological sort for graph building), treenet's train (and each of
its backends, when train has backend=), treenet's generated code driven by a hand-written loop,
treenet's predict + backward loop, and, where installed (`pip install ".[bench]"`), micrograd,
PyTorch (0-d tensors per sample; batched on one thread) and JAX (jit). Every library runs on
one thread (OMP/BLAS/XLA set so), in float64.

Before it is timed, each implementation proves that it computes the reference's parameters
(W1, W2: after training on the first rows; W3: the value and every gradient) to 1e-9, relative
to the largest; a cell that does not is shown as WRONG and not timed. Timing: the machine is
shared and noisy, so each repeat times the implementation and then the reference, right after
each other, and the table shows the median of the per-repeat ratios of throughput (higher is
faster; 1 = as fast as the reference) beside the implementation's median throughput."""

import argparse
import datetime
import gc
import json
import os
from pathlib import Path
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))  # run from a checkout

import _bench_work as W  # noqa: E402
from _bench_impls import IMPLEMENTATIONS, OPTIONAL, Skip  # noqa: E402

TOLERANCE = 1e-9

FULL = dict(repeats=5, target=0.3, chains=(1000, 10_000, 100_000),
            graphs=(1000, 10_000, 100_000, 500_000), proof_rows=200, proof_batch_rows=1000,
            proof_epochs=2, timeout=420)
QUICK = dict(FULL, repeats=2, target=0.05, chains=(1000, 10_000), graphs=(1000, 10_000, 100_000),
             proof_rows=50, timeout=300)
SMOKE = dict(QUICK, chains=(10,), graphs=(), proof_rows=10, proof_batch_rows=10)
"""Settings: full, --quick, and the smallest sizes (tests/test_bench_smoke.py, proofs only)."""

CELLS = [("W1", "sample"), ("W1", "batch"), ("W2", "sample"), ("W2", "batch")]

THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def log(text):
    print(text, file=sys.stderr, flush=True)


# --- proofs -------------------------------------------------------------------------------------

def prove_train(make, kind, mode, cfg, rows):
    """The relative difference between the implementation's parameters and the reference's after
    training on the first rows."""
    n = cfg["proof_rows"] if mode == "sample" else cfg["proof_batch_rows"]
    p0 = W.initial(kind)
    got = make(rows[:n], p0, W.LR)(cfg["proof_epochs"])
    want = W.reference(kind, mode)(rows[:n], p0, W.LR)(cfg["proof_epochs"])
    return W.rel_error(got, want)


def prove_chain(built, weights, x):
    _, run, result = built
    run()
    h, grads = result()
    want_h, want_g = W.chain_python(weights, x)
    return max(W.rel_error([h], [want_h]), W.rel_error(grads, want_g))


def prove(name, cfg=SMOKE):
    """{cell: relative error} for every workload `name` implements, proofs only, in this process
    (raises Skip when it is not installed)."""
    impl = IMPLEMENTATIONS[name]()
    rows = W.dataset()
    out = {}
    for kind, mode in CELLS:
        make = impl.trainer(kind, mode)
        if make is not None:
            out[f"{kind} {mode}"] = prove_train(make, kind, mode, cfg, rows)
    for layers in cfg["chains"]:
        weights = W.chain_weights(layers)
        built = impl.chain(weights, 0.3)
        if built is not None:
            out[f"W3 {layers}"] = prove_chain(built, weights, 0.3)
    return out


# --- timing -------------------------------------------------------------------------------------

def sized(make, kind, mode, cfg, rows):
    """(run, samples per run) for one repeat of about cfg['target'] seconds."""
    p0, target = W.initial(kind), cfg["target"]
    if mode == "sample":
        probe = make(rows[:50], p0, W.LR)
        probe(1)  # warm up (and, for JAX, compile)
        per_step = timed(lambda: probe(1)) / 50
        if per_step * len(rows) >= target:
            n, epochs = int(min(len(rows), max(20, target / per_step))), 1
        else:
            n, epochs = len(rows), max(1, round(target / (per_step * len(rows))))
        run = make(rows[:n], p0, W.LR)
        run(1)
    else:
        n = len(rows)
        run = make(rows, p0, W.LR)
        run(1)
        epochs = max(1, round(target / timed(lambda: run(1))))
    return (lambda: run(epochs)), n * epochs


def measure_train(make, kind, mode, cfg, rows):
    err = prove_train(make, kind, mode, cfg, rows)
    if not err <= TOLERANCE:
        return {"status": "wrong", "err": err}
    run, work = sized(make, kind, mode, cfg, rows)
    ref, ref_work = sized(W.reference(kind, mode), kind, mode, cfg, rows)
    speeds, ref_speeds, ratios = [], [], []
    for _ in range(cfg["repeats"]):  # alternate, so both see the same load
        speeds.append(work / timed(run))
        ref_speeds.append(ref_work / timed(ref))
        ratios.append(speeds[-1] / ref_speeds[-1])
    return {"status": "ok", "err": err, "speed": statistics.median(speeds),
            "ref_speed": statistics.median(ref_speeds), "ratio": statistics.median(ratios)}


def measure_chain(impl, layers, cfg):
    weights, x = W.chain_weights(layers), 0.3
    built = impl.chain(weights, x)
    if built is None:
        return None
    t0 = time.perf_counter()
    err = prove_chain(built, weights, x)  # also the first, warming pass
    first = time.perf_counter() - t0
    if not err <= TOLERANCE:
        return {"status": "wrong", "err": err}
    seconds, run, _ = built

    def repeat(fn):
        k = max(1, round(cfg["target"] / timed(fn)))
        return (lambda: [fn() for _ in range(k)]), k

    run_k, k = repeat(run)
    ref_k, k_ref = repeat(lambda: W.chain_python(weights, x))
    times, ref_times, ratios = [], [], []
    repeats = cfg["repeats"] if layers <= 10_000 else min(3, cfg["repeats"])
    for _ in range(1 if first > 3.0 else repeats):  # PyTorch's 100k layers: 20 s a pass
        times.append(timed(run_k) / k)
        ref_times.append(timed(ref_k) / k_ref)
        ratios.append(ref_times[-1] / times[-1])
    return {"status": "ok", "err": err, "compile": seconds, "seconds": statistics.median(times),
            "ref_seconds": statistics.median(ref_times), "ratio": statistics.median(ratios)}


def collected(items):
    """Each item after a full garbage collection: a collection the previous one's garbage
    triggers is not charged to the next."""
    for item in items:
        gc.collect()
        yield item


def measure_graph(nodes, cfg):
    """treenet's compile() of a fresh W3 chain of about `nodes` nodes against the hand-written
    topological sort of the same tree, per node."""
    from _bench_impls import build_chain
    layers = max(1, round(nodes / 5))  # 5 nodes a layer, and the input
    trees = max(1, 20_000 // nodes)  # small graphs: several per repeat, each compiled once
    per_node, ref_per_node, ratios = [], [], []
    for _ in range(cfg["repeats"] if nodes <= 100_000 else min(3, cfg["repeats"])):
        roots = [build_chain(W.chain_weights(layers))[0] for _ in range(trees)]
        t_ref = sum(timed(lambda: W.toposort(r)) for r in collected(roots))
        t = sum(timed(r.compile) for r in collected(roots))
        count = len(roots[0].graph.nodes)
        if count != len(W.toposort(roots[0])[0]):
            return {"status": "wrong", "err": f"{count} nodes, expected {len(W.toposort(roots[0])[0])}"}
        per_node.append(t / (trees * count))
        ref_per_node.append(t_ref / (trees * count))
        ratios.append(t_ref / t)
        del roots
    return {"status": "ok", "nodes": count, "per_node": statistics.median(per_node),
            "ref_per_node": statistics.median(ref_per_node), "ratio": statistics.median(ratios)}


def guarded(fn, *args):
    try:
        return fn(*args)
    except RecursionError:
        return {"status": "RecursionError"}
    except Exception as exc:  # one failing cell must not lose the others
        return {"status": "error", "err": f"{type(exc).__name__}: {exc}"[:300]}


def work(name, cfg):
    """Everything `name` implements, measured in this process: a JSON-able dict."""
    try:
        impl = IMPLEMENTATIONS[name]()
    except Skip as exc:
        return {"name": name, "skipped": str(exc)}
    rows = W.dataset()
    out = {"name": name, "label": impl.label, "cells": {}, "chains": {}, "graphs": {}}
    for kind, mode in CELLS:
        make = impl.trainer(kind, mode)
        if make is not None:
            log(f"  {name}: {kind} {mode}")
            out["cells"][f"{kind} {mode}"] = guarded(measure_train, make, kind, mode, cfg, rows)
    for layers in cfg["chains"]:
        log(f"  {name}: W3 {layers} layers")
        cell = guarded(measure_chain, impl, layers, cfg)
        if cell is not None:
            out["chains"][str(layers)] = cell
    if impl.graph:
        for nodes in cfg["graphs"]:
            log(f"  {name}: graph building, {nodes} nodes")
            out["graphs"][str(nodes)] = guarded(measure_graph, nodes, cfg)
    return out


def run_worker(name, quick, timeout):
    """`work(name)` in a fresh process, one thread per library."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--out", str(path)]
        cmd += ["--quick"] if quick else []
        env = dict(os.environ, **THREADS)
        try:
            proc = subprocess.run(cmd, env=env, timeout=timeout, stdout=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return {"name": name, "failed": f"timed out after {timeout} s"}
        if proc.returncode != 0 or not path.exists():
            return {"name": name, "failed": f"worker exited with status {proc.returncode}"}
        return json.loads(path.read_text())


# --- the tables ---------------------------------------------------------------------------------

def si(x, unit=""):
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= scale:
            return f"{x / scale:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}"


def seconds(s):
    if s >= 1:
        return f"{s:.2f} s"
    return f"{s * 1e3:.3g} ms" if s >= 1e-3 else f"{s * 1e6:.3g} µs"


def cell_text(cell, reference, fmt):
    if cell is None:
        return "—"
    status = cell["status"]
    if status == "RecursionError":
        return "RecursionError"
    if status == "wrong":
        return f"WRONG ({cell['err']:.1e})" if isinstance(cell["err"], float) else "WRONG"
    if status == "error":
        return f"error: {cell['err'][:60]}"
    return fmt(cell, reference)


def train_fmt(cell, reference):
    unit = "steps/s" if "sample" in reference else "samples/s"
    if reference.startswith("ref"):
        return si(cell["speed"], unit)
    return f"{cell['ratio']:.3g}× ({si(cell['speed'], '/s')})".replace(" /s", "/s")


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def report(results, cfg):
    done = [r for r in results if "cells" in r]
    out = []
    head = ["implementation", "W1 per sample", "W1 batch of 1000", "W2 per sample",
            "W2 batch of 1000"]
    rows = []
    for r in done:
        if not r["cells"]:
            continue
        ref = r["name"] == "reference"
        rows.append([r["label"]] + [
            cell_text(r["cells"].get(f"{k} {m}"), ("ref " if ref else "") + m, train_fmt)
            for k, m in CELLS])
    out.append(table(head, rows))
    out.append("")
    head = ["W3 chain", *[f"{n // 1000}k layers: compile, fwd+bwd" for n in cfg["chains"]]]
    rows = []
    for r in done:
        if not r["chains"]:
            continue
        cells = []
        for n in cfg["chains"]:
            c = r["chains"].get(str(n))
            if c is not None and c["status"] == "ok":
                fb = seconds(c["seconds"])
                compiled = seconds(c["compile"]) if c["compile"] else "—"
                cells.append(fb if r["name"] == "reference" else
                             f"{compiled}, {c['ratio']:.3g}× ({fb})")
            else:
                cells.append(cell_text(c, "", None))
        label = "hand-written Python (reference)" if r["name"] == "reference" else r["label"]
        rows.append([label] + cells)
    out.append(table(head, rows))
    graphs = [r["graphs"] for r in done if r["graphs"]]
    if graphs:
        g = graphs[0]
        base = g.get("10000", {}).get("per_node")
        rows = []
        for n in cfg["graphs"]:
            c = g.get(str(n))
            if c is None or c["status"] != "ok":
                rows.append([str(n), cell_text(c, "", None), "", "", ""])
                continue
            scale = f"{c['per_node'] / base:.2f}" if base else "—"
            rows.append([f"{c['nodes']:,}", f"{c['per_node'] * 1e6:.2f} µs", scale,
                         f"{c['ref_per_node'] * 1e6:.2f} µs", f"{c['ratio']:.3g}×"])
        out.append("")
        out.append(table(["graph building: nodes", "treenet compile() per node",
                          "per node / at 10k", "hand-written toposort per node",
                          "ratio"], rows))
    errs = [c["err"] for r in done for part in ("cells", "chains") for c in r[part].values()
            if c.get("status") == "ok"]
    out.append("")
    if errs:
        out.append(f"Every timed cell computed the reference's parameters (W3: gradients) to "
                   f"{max(errs):.1e} or better (required: {TOLERANCE:g}).")
    for r in results:
        if "skipped" in r:
            out.append(f"Skipped {r['name']}: {r['skipped']}.")
        elif "failed" in r:
            out.append(f"Failed {r['name']}: {r['failed']}.")
    return "\n".join(out)


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def versions():
    from importlib import metadata
    out = []
    for pkg in ("numpy", "micrograd", "torch", "jax"):
        try:
            out.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats and sizes")
    ap.add_argument("--only", help="comma-separated implementations: " + ", ".join(IMPLEMENTATIONS))
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    if args.worker:
        Path(args.out).write_text(json.dumps(work(args.worker, cfg)))
        return 0
    names = list(IMPLEMENTATIONS) if not args.only else args.only.split(",")
    unknown = [n for n in names if n not in IMPLEMENTATIONS]
    if unknown:
        ap.error(f"unknown implementation(s) {unknown}; expected some of {list(IMPLEMENTATIONS)}")
    start = time.perf_counter()
    results = []
    for name in names:
        log(f"{name} ...")
        results.append(run_worker(name, args.quick, cfg["timeout"]))
    elapsed = time.perf_counter() - start
    print(f"treenet benchmarks, {datetime.date.today()}, {machine()}; {versions()}; "
          f"{'--quick, ' if args.quick else ''}{elapsed:.0f} s")
    print("Ratios: throughput / the hand-written reference's, timed right after it in each "
          "repeat (median of the repeats; higher is faster).\n")
    print(report(results, cfg))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


__all__ = ["prove", "work", "main", "OPTIONAL"]

if __name__ == "__main__":
    sys.exit(main())

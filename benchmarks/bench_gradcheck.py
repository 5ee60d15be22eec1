"""Times treenet's gradcheck (symbolic and finite differences) and derivative on the 2-16-16-1
tanh network written as one scalar formula (about 340 parameters), against plain sympy.diff +
lambdify of the same expression, in the same run, and prints the ratios; then (with --scaling)
the cases of issue 8 that were quadratic or exponential: a 784-input dense unit, 1,000- and
30,000-term sums (symbolic, finite differences, both), a 30,000-input dense unit, a 9-way max,
1,000 arguments tied at a max, a 30,000-way max, and finite differences on a 10,000-layer tanh
chain.

    python benchmarks/bench_gradcheck.py [--scaling]
"""

import sys
import time

import sympy

import treenet

SOURCE = "sigmoid(linear(tanh(dense(16, tanh(dense(16, x, y))))))"
POINT = {"x": 0.5, "y": -0.3}


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main():
    net = treenet.parse(SOURCE, seed=0)
    n = len(net.parameters)
    rows = []
    t_all, report = timed(lambda: treenet.gradcheck(net, POINT))
    rows.append(("gradcheck, method='all' (first call: builds sympy rules)", t_all))
    t_sym, _ = timed(lambda: treenet.gradcheck(net, POINT, method="symbolic"))
    rows.append(("gradcheck, method='symbolic'", t_sym))
    t_fd, _ = timed(lambda: treenet.gradcheck(net, POINT, method="fd"))
    rows.append(("gradcheck, method='fd'", t_fd))
    t_all2, _ = timed(lambda: treenet.gradcheck(net, POINT))
    rows.append(("gradcheck, method='all'", t_all2))
    t_d1, _ = timed(lambda: treenet.derivative(net, net.parameters[0]).compile())
    rows.append(("derivative, one parameter (built + compiled)", t_d1))
    t_grad, grads = timed(lambda: treenet.gradient(net))
    rows.append((f"gradient, all {n + 2} variables (one sweep; each compiles on first use)",
                 t_grad))

    # plain sympy on the same expression: diff for every variable, lambdify, evaluate
    def plain_sympy():
        expr, values = treenet.to_sympy(net, values=True, evaluate=True)
        symbols = list(values)
        diffs = [sympy.diff(expr, s) for s in symbols]
        f = sympy.lambdify(symbols, diffs, "math")
        return dict(zip((s.name for s in symbols), f(*[float(v) for v in values.values()])))
    net.predict(POINT)
    t_sympy, exact = timed(plain_sympy)
    rows.append(("sympy.diff + lambdify + evaluate, all variables", t_sympy))

    width = max(len(r[0]) for r in rows)
    print(f"{SOURCE}: {len(net.graph)} nodes, {n} parameters; gradcheck ok={report.ok}, "
          f"max error {report.max_error:.2g}")
    print(f"{'':{width}}  {'seconds':>9}  {'sympy / this':>12}")
    for name, t in rows:
        print(f"{name:{width}}  {t:9.3f}  {t_sympy / t:12.1f}")
    worst = max(abs(exact[r.name] - r.symbolic) for r in report)
    print(f"largest |sympy - gradcheck symbolic| = {worst:.2g}")


def _wide_sum(n):
    return f"input v[{n}]\n" + " + ".join(f"p*v[{i}]" for i in range(n))


def _spread(n):
    return [((i * 37) % 100) / 100 for i in range(n)]


SCALING = [
    ("input v[784]; sigmoid(linear(v))", "input v[784]\nsigmoid(linear(v))", _spread, "all"),
    ("1,000-term sum", " + ".join(f"x{i}" for i in range(1000)),
     lambda n: [i / n for i in range(n)], "all"),
    ("30,000-term sum", " + ".join(f"x{i}" for i in range(30000)),
     lambda n: [i / n for i in range(n)], "symbolic"),
    ("30,000-term sum of p*v_i", _wide_sum(30000), lambda n: [i / n for i in range(n)], "fd"),
    ("30,000-term sum of p*v_i", _wide_sum(30000), lambda n: [i / n for i in range(n)], "all"),
    ("input v[30000]; sigmoid(linear(v))", "input v[30000]\nsigmoid(linear(v))", _spread,
     "fd"),
    ("max of 9", "max(" + ", ".join(f"x{i}" for i in range(9)) + ")",
     lambda n: [float(i % 4) for i in range(n)], "all"),
    ("max of 1,000 tied arguments", "max(" + ", ".join(f"x{i}" for i in range(1000)) + ")",
     lambda n: [1.0] * n, "all"),
    ("max of 30,000 distinct arguments", "max(" + ", ".join(f"x{i}" for i in range(30000)) + ")",
     lambda n: [((i * 7919) % n) / n for i in range(n)], "fd"),
    ("tanh(p*c) chain, 10,000 layers", "input x\nc = x\n" + "c = tanh(p*c)\n" * 10000 + "c",
     lambda n: [0.3], "fd"),
]


def scaling():
    for name, source, point, method in SCALING:
        net = treenet.parse(source, seed=0)
        t, report = timed(lambda: treenet.gradcheck(net, point(len(net.inputs)), method=method))
        print(f"{name:34} method={method:8} {len(report):6} variables  {t:8.2f} s  "
              f"ok={report.ok}")


if __name__ == "__main__":
    main()
    if "--scaling" in sys.argv[1:]:
        scaling()

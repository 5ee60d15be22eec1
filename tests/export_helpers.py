"""What the export tests (test_export_torch.py, test_export_jax.py) share: the engine's values
and gradients on the random programs of test_codegen, row by row, to hold an engine's against."""

import math

import numpy as np

from treenet import EvaluationError
from test_codegen import _nets, engine


def cases(count, offset=0):
    """(where, net, X, D, expected) for `count` random programs (all ops, shared nodes, macros,
    vector outputs, kinks at exact zeros and ties): X the rows the engine evaluates and
    differentiates (a row where it raises is left out), D an upstream derivative per row, and
    expected per row (value, input gradients, parameter gradients)."""
    for seed, source, net, points, ds in _nets(count, offset):
        rows, dees, expected = [], [], []
        for point, d in zip(points, ds):
            try:
                expected.append(engine(net, point, d))
            except EvaluationError:
                continue  # outside the network's domain: the engine has no numbers to match
            rows.append(point)
            dees.append(d)
        if rows:
            X = np.array(rows, dtype=float).reshape(len(rows), len(net.inputs))
            yield f"seed {seed}:\n{source}", net, X, np.array(dees, dtype=float), expected


def _flat(v):
    return list(v) if isinstance(v, (list, tuple, np.ndarray)) else [v]


def close(a, b, scale, rel=1e-12):
    return abs(a - b) <= rel * max(1.0, scale)


def check(where, net, got, expected, rel=1e-12):
    """got = (values (n,) or (n, k), input gradients (n, n_inputs), parameter gradients summed
    over the rows) against the engine's per row, to `rel` (of the numbers' size, or 1)."""
    values, gx, gp = (np.asarray(g, dtype=float) for g in got)
    for s, (value, gxs, _) in enumerate(expected):
        for a, b in zip(_flat(values[s]), _flat(value)):
            assert close(a, b, abs(b), rel), (where, "value", s, a, b)
        for a, b in zip(gx[s], gxs):
            assert close(a, b, abs(b), rel), (where, "input gradient", s, a, b)
    for k in range(len(net.parameters)):
        terms = [r[2][k] for r in expected]
        assert close(gp[k], math.fsum(terms), sum(map(abs, terms)), rel), \
            (where, "parameter gradient", k, gp[k], terms)

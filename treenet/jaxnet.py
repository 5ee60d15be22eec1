"""A network as a pure JAX function, and back: `to_jax(net)` and `from_jax(net, params)`.

`fn(params, X)` is the source `treenet.arrayfn` writes from the network's IR, run on jax.numpy:
a pure function of a dict of parameters (treenet names -> 0-d arrays) and a batch X of shape
(..., n_inputs), so `jax.jit`, `jax.grad`, `jax.vmap` (over rows: fn of one row is a number)
and `jax.pmap` apply; its gradients are JAX's autodiff of that code, which the templates make
follow treenet's kink conventions.

dtype. JAX computes in float32 unless its x64 mode is on, a global switch that `to_jax` never
flips behind the user's back: the parameters are made in JAX's default float (float64 with
`jax.config.update("jax_enable_x64", True)` done first, else float32), and
`to_jax(net, dtype="float64")` without x64 mode is a TreenetError saying how to turn it on.

JAX is an optional extra (`pip install treenet[jax]`): it is imported on the first call, never
by `import treenet`."""

from collections.abc import Mapping
import difflib

from .arrayfn import Export
from .errors import TreenetError
from .nodes import brief

EXTRA = "pip install 'treenet[jax]'"


def _jax(call):
    """(jax, jax.numpy), or a TreenetError naming the extra to install."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as exc:
        raise TreenetError(f"{call} needs JAX, an optional extra of treenet: {EXTRA}") from exc
    return jax, jnp


def to_jax(net, dtype=None):
    """(fn, params): fn(params, X) is the network's output for each row of X, (..., n_inputs)
    -> (...) or (..., k), a pure function; params the network's values by name, 0-d arrays of
    `dtype` (default: JAX's default float; see the module docstring)."""
    jax, jnp = _jax("to_jax")
    export = Export(net, "to_jax(network)")
    dtype = _dtype(jax, jnp, dtype)
    forward = export.forward(jnp)
    names, n_in = list(export.parameter_names), len(export.input_names)
    inputs = ", ".join(export.input_names) or "none"

    def fn(params, X):
        """The network's output for each row of X (..., n_inputs), parameters by name."""
        p = _ordered(params, names, "fn")
        for name, v in zip(names, p):
            # a (k,) value would broadcast over the batch: a wrong shape, not an error, later
            if jnp.shape(v) != ():
                raise TreenetError(f"fn: parameter {name!r} has shape {jnp.shape(v)}; expected "
                                   "one number (a 0-d array)")
        try:
            X = jnp.asarray(X)
        except (TypeError, ValueError) as exc:
            raise TreenetError(f"fn takes a batch of numbers, shape (n, {n_in}); could not make "
                               f"an array of {type(X).__name__}: {exc}") from exc
        if X.ndim == 0 or X.shape[-1] != n_in:
            raise TreenetError(f"fn takes rows of {n_in} input value(s) ({inputs}): expected "
                               f"shape (n, {n_in}), got {tuple(X.shape)}")
        return forward(X, p, jnp.zeros(X.shape[:-1], X.dtype))

    params = {name: jnp.asarray(v, dtype=dtype) for name, v in zip(names, export.values)}
    return fn, params


def from_jax(net, params):
    """A new network: `net` node for node (structure, inputs, parameter order), with the
    parameter values in `params` (treenet names -> numbers or 0-d arrays)."""
    import numpy as np
    export = Export(net, "from_jax(network, params)")
    values = []
    for name, v in zip(export.parameter_names, _ordered(params, export.parameter_names,
                                                        "from_jax")):
        try:
            a = np.asarray(v)
        except TypeError as exc:  # a jax tracer: from_jax called inside jax.jit or grad
            raise TreenetError(f"from_jax: parameter {name!r} is {type(v).__name__}, not a "
                               "concrete value (from_jax cannot run inside jax.jit, grad or "
                               "vmap: call it on the values they return)") from exc
        if a.shape != () or a.dtype.kind not in "fiu":
            raise TreenetError(f"from_jax: parameter {name!r} is {brief(v)} of shape {a.shape} "
                               f"and dtype {a.dtype}; expected one float (a 0-d array)")
        values.append(float(a))  # exact: float64 holds every float dtype's values
    return export.network(values, "from_jax")


def _ordered(params, names, call):
    """The values of `params` in the order of `names`, or a TreenetError naming what is missing
    or extra (with a did-you-mean)."""
    if not isinstance(params, Mapping):
        raise TreenetError(f"{call}: params must be a dict of the network's parameters by name, "
                           f"got {type(params).__name__}")
    missing = [name for name in names if name not in params]
    extra = [key for key in params if key not in names]
    if missing or extra:
        what = []
        if missing:
            given = {str(k).lower(): k for k in extra}
            close = difflib.get_close_matches(str(missing[0]).lower(), list(given), n=1)
            hint = f" (given {given[close[0]]!r}: a misspelling?)" if close else ""
            what.append(f"no value for parameter {missing[0]!r}{hint}")
        if extra and not missing:
            what.append(f"{extra[0]!r} is not a parameter of the network")
        raise TreenetError(f"{call}: {'; '.join(what)}; the parameters are "
                           f"{', '.join(names) or 'none'}")
    return [params[name] for name in names]


def _dtype(jax, jnp, dtype):
    """The parameters' dtype: JAX's default float, or the one asked for if JAX can hold it."""
    x64 = bool(jax.config.read("jax_enable_x64"))
    if dtype is None:
        return jnp.float64 if x64 else jnp.float32
    try:
        found = jnp.dtype(dtype)
    except TypeError:
        found = None
    if found is None or found.kind != "f":
        raise TreenetError(f"to_jax: dtype is {dtype!r}; expected a float dtype such as "
                           "'float32' or 'float64'")
    if found.itemsize > 4 and not x64:
        raise TreenetError(f"to_jax: dtype {found} needs JAX's x64 mode, which to_jax does not "
                           "switch on for you: call jax.config.update('jax_enable_x64', True) "
                           "first (or leave dtype out for float32)")
    return found


__all__ = ["to_jax", "from_jax"]

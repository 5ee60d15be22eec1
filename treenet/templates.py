"""The language of the code templates that ops carry for `treenet.codegen`.

An op class says how it is written in generated code with a few class attributes, beside its
value and derivative rules (see `treenet.ops`):

- `code_value`: an expression for the op's value.
- `code_vjp`: each argument's share of the upstream derivative (the chain rule at the node): one
  template used for every argument, or a tuple with one template per argument.
- `code_vjp_all` (used where `code_vjp` is missing or None): one expression whose value is the
  sequence of every argument's share, for ops whose shares have work in common (softmax).
- `code_vjp_sum` (array only, optional): each argument's share summed over the batch, one
  template per argument, valid where the upstream derivative and every other argument are arrays
  over the batch (Multiply: `{g} @ {1}`, a dot product). A training step uses it for a parameter
  that has this one share, instead of making the array of shares and summing it.
- `code_helpers`: {name: source} of functions the templates call, written once at the top of a
  generated module that calls them (`{xp}` in a source is replaced by the module's name; the
  generator renames each, its definition and its calls, to `_h_<name>`, a namespace of its own).
- `code_passes_non_finite = True`: a nan or infinite argument always gives a nan or infinite value
  (+, *, log, ...). For the other ops (relu(nan) is 0, tanh(inf) is 1) the generated code checks
  that the arguments are finite, so no error the engine would raise can be hidden.

Each of them may be a dict keyed by target, "python" (floats and `math`, one sample), "array"
(numpy: a batch at once) or "traced" (the forward pass that `treenet.arrayfn` writes for torch,
jax.numpy or numpy, differentiated by the engine's autograd: see below), when the targets differ,
and a
template may be a function of the number of arguments that returns the template (for variadic
ops: a chain `x0 + x1 + ...` of more than a few dozen terms nests too deep for Python's compiler,
so long sums call a helper instead). Templates are `str.format` strings over these fields:

    {0}, {1}, ...   the arguments            {a:SEP}  all the arguments, joined by SEP
    {out}           the op's value           {g}      its upstream derivative
    {i}             (in a per-argument vjp template) the argument's position
    {xp}            the module: `math` for python, `np` for numpy, `xp` (torch, jax.numpy or
                    numpy, given at run time) for traced
    {zeros}         (traced only) zeros over the batch, of the input's dtype and device

Every template must compute exactly what the op's `compute` and `vjp` compute (the same
floating-point operations in the same order), so generated code and the engine agree to the bit
in the python target. An op without `code_value` cannot be generated: `codegen` says so, and
`generator.compiled` runs the interpreted engine for its network instead.

The "traced" target is the forward pass only, value templates and their helpers: an op without a
"traced" key uses its "array" one. Its templates must (1) use only what torch, jax.numpy and
numpy 2 share: `tanh exp log abs sign where pow stack(..., axis=-1)`, operators, and python
floats as scalars (torch's `maximum` takes no float, it has no `power`, and a `where` of two
floats is float32 there), and (2) differentiate, under torch's and jax's autograd, by the op's
own `vjp`, kinks included: `maximum` splits the gradient 1/2-1/2 at a tie, jax takes abs'(0) = 1
and d(0^0)/da = nan, and `where` sends an unselected branch a 0 that times its nan derivative is
nan. So relu is `where(x > 0, x, 0.0)`, max a chain of `where(a >= b, a, b)` (the first extreme
keeps the gradient), abs `x * sign(x)`, and sigmoid reads exp of `where(x >= 0, -x, x)`
(exp(-abs(x)) would take abs's kink at 0)."""

TARGETS = ("python", "array", "traced")

FALLBACK = {"traced": "array"}
"""The target whose template a target uses where an op declares none of its own."""


def resolve(template, target, n):
    """The template an op declares for `target` ("python", "array" or "traced", which falls
    back to "array") and `n` arguments."""
    if isinstance(template, dict):
        template = template.get(target, template.get(FALLBACK.get(target)))
    if callable(template):
        template = template(n)
    return template


class _Joined:
    """The arguments as one format field: `{a:SEP}` joins them with SEP."""
    __slots__ = ("items",)

    def __init__(self, items):
        self.items = items

    def __format__(self, spec):
        return (spec or ", ").join(self.items)


def fill(template, args, **fields):
    """The template with {0}, {1}, ... and {a:SEP} set to the argument expressions `args`."""
    return template.format(*args, a=_Joined(args), **fields)


__all__ = ["resolve", "fill", "TARGETS", "FALLBACK"]

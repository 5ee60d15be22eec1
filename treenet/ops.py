"""The elementary ops. Each class is the whole truth about one op: its value, its local derivative
(numeric, and symbolic as nodes), how it prints, and its sympy twin. Declaring a class registers it:
the parser, the printer, the sympy bridge and the tests all read `REGISTRY`.

Kink conventions (shared by backward, `derivative` and sympy): relu'(0) = 0, abs'(0) = 0, and
max/min send the whole gradient to the first argument that attains the extreme."""

import math

from .errors import DomainError
from .nodes import Constant, Macro, Operation
from .nodes import __getattr__  # noqa: F401  (ops.Linear: Linear now lives in treenet.macros)

# Printing precedences (see treenet.printer): higher binds tighter.
SUM, PRODUCT, UNARY, POWER, ATOM = 10, 20, 30, 40, 100


def _sympy():
    """sympy, imported on first use: parsing and evaluating a formula never need it."""
    import sympy
    return sympy


def _sympy_step(x):
    sympy = _sympy()
    return sympy.Piecewise((1, x > 0), (0, True))


def _onnx_chain(op_type):
    """The ONNX form of an n-ary op as binary `op_type` nodes from the left, ((a0 op a1) op a2)
    ..., the engine's order (see treenet.onnxnet)."""
    def form(b, args):
        out = args[0]
        for a in args[1:]:
            out = b.op(op_type, out, a)
        return out
    return staticmethod(form)


# --- infix and prefix operators -------------------------------------------------------------------

class Add(Operation):
    """a + b + ...  (d/d each = 1)"""
    symbol, notation, precedence, arity = "+", "infix", SUM, (1, None)
    associativity, latex = "left", "{0} + {1}"
    negated_symbol = "-"  # a + (-b) prints a - b: the same float

    # code templates (see treenet.templates); a long chain of + nests too deep to compile
    code_value = lambda n: "{a: + }" if n <= 32 else "total({a:, })"  # noqa: E731
    code_vjp = "{g}"
    code_helpers = {"total": ('def total(*xs):\n'
                              '    """x0 + x1 + ... from the left, as the engine adds."""\n'
                              '    return sum(xs[1:], xs[0])\n')}
    code_passes_non_finite = True
    onnx = _onnx_chain("Add")  # ONNX Sum may add in any order

    def compute(self, xs):
        return sum(xs[1:], xs[0])  # sum(xs) starts from int 0, and 0 + -0.0 loses the sign

    def partials(self, xs, out):
        return [1.0] * len(xs)

    def vjp(self, xs, out, g):
        return [g] * len(xs)

    def dnodes(self, args, out):
        return [B.const(1.0)] * len(args)

    def to_sympy(self, args):
        sympy = _sympy()
        return sympy.Add(*args)

    # One argument moved, the rest kept (treenet.gradcheck's finite-difference probes): O(1) where
    # compute is O(arity). `update_state(xs, out)` is taken once at a point; `update(state, k,
    # old, new)` gives (the value with argument k moved from old to new, whether the kink branch
    # is unchanged), within 2 eps (|out| + |old| + |new|) of the exact value, or None where it
    # cannot tell without the other arguments (then compute decides).
    def update_state(self, xs, out):
        """For a sum, the sum."""
        return out

    def update(self, state, k, old, new):
        """out - old + new (None where it is not finite, or 0, whose sign follows the order)."""
        value = state - old + new
        return (value, True) if value != 0 and math.isfinite(value) else None


class Subtract(Operation):
    """a - b  (d/da = 1, d/db = -1)"""
    symbol, notation, precedence, arity = "-", "infix", SUM, 2
    associativity, latex = "left", "{0} - {1}"
    negated_symbol = "+"  # a - (-b) prints a + b

    code_value = "{0} - {1}"
    code_vjp = ("{g}", "-{g}")
    code_passes_non_finite = True
    onnx = "Sub"

    def compute(self, xs):
        return xs[0] - xs[1]

    def partials(self, xs, out):
        return [1.0, -1.0]

    def vjp(self, xs, out, g):
        return [g, -g]

    def dnodes(self, args, out):
        return [B.const(1.0), B.const(-1.0)]

    def to_sympy(self, args):
        return args[0] - args[1]


class Multiply(Operation):
    """a * b * ...  (d/da = product of the others)"""
    symbol, notation, precedence, arity = "*", "infix", PRODUCT, (1, None)
    associativity, latex = "left", r"{0} \cdot {1}"
    odd = True  # (-a)*b == -(a*b) exactly: a - (-2)*y prints a + 2*y

    # two factors inline; more through helpers that multiply in the engine's order (a product
    # chain nests too deep to compile, and the prefix and suffix products keep the shares exact)
    code_value = lambda n: "{a: * }" if n <= 32 else "product({a:, })"  # noqa: E731
    code_vjp = lambda n: ("{g} * {1}", "{g} * {0}") if n == 2 else None  # noqa: E731
    code_vjp_all = "product_vjp({g}, {a:, })"
    # a factor's share summed over a batch, the other an array over it: one dot product
    code_vjp_sum = {"array": lambda n: ("{g} @ {1}", "{g} @ {0}") if n == 2 else None}
    code_helpers = {
        "product": ('def product(*xs):\n'
                    '    """x0 * x1 * ... from the left."""\n'
                    '    out = xs[0]\n'
                    '    for x in xs[1:]:\n'
                    '        out = out * x\n'
                    '    return out\n'),
        "product_vjp": ('def product_vjp(g, *xs):\n'
                        '    """g times the product of the other factors, for each factor."""\n'
                        '    n = len(xs)\n'
                        '    left = [1.0] * n\n'
                        '    for i in range(1, n):\n'
                        '        left[i] = left[i - 1] * xs[i - 1]\n'
                        '    shares = [0.0] * n\n'
                        '    right = 1.0\n'
                        '    for i in range(n - 1, -1, -1):\n'
                        '        shares[i] = g * (left[i] * right)\n'
                        '        right = right * xs[i]\n'
                        '    return shares\n')}
    code_passes_non_finite = True
    onnx = _onnx_chain("Mul")

    def compute(self, xs):
        return math.prod(xs)

    def partials(self, xs, out):
        # prefix and suffix products, not out / x: exact, and right when a factor is 0
        n = len(xs)
        if n == 2:
            return [xs[1], xs[0]]
        left = [1.0] * n
        for i in range(1, n):
            left[i] = left[i - 1] * xs[i - 1]
        result = [0.0] * n
        right = 1.0
        for i in range(n - 1, -1, -1):
            result[i] = left[i] * right
            right *= xs[i]
        return result

    def dnodes(self, args, out):
        return [B.mul(*(args[:i] + args[i + 1:])) for i in range(len(args))]

    def to_sympy(self, args):
        sympy = _sympy()
        return sympy.Mul(*args)


class Divide(Operation):
    """a / b  (d/da = 1/b, d/db = -a/b^2)"""
    symbol, notation, precedence, arity = "/", "infix", PRODUCT, 2
    associativity, latex = "left", r"\frac{{0}}{{1}}"
    latex_precedence = POWER  # a fraction raised to a power keeps its parentheses
    odd = True

    code_value = "{0} / {1}"  # python raises ZeroDivisionError, numpy gives inf or nan
    code_vjp = ("{g} * (1.0 / {1})", "{g} * (-{out} / {1})")
    onnx = "Div"

    def compute(self, xs):
        if xs[1] == 0:
            raise DomainError("division by zero")
        return xs[0] / xs[1]

    def partials(self, xs, out):
        return [1.0 / xs[1], -out / xs[1]]

    def dnodes(self, args, out):
        return [B.div(B.const(1.0), args[1]), B.neg(B.div(out, args[1]))]

    def to_sympy(self, args):
        return args[0] / args[1]


class Negate(Operation):
    """-a  (d/da = -1)"""
    symbol, notation, precedence, arity = "-", "prefix", UNARY, 1
    latex = "-{0}"
    negation = True  # -(2) prints -2, and a + (-b) prints a - b

    code_value = "-{0}"
    code_vjp = "-{g}"
    code_passes_non_finite = True
    onnx = "Neg"

    def compute(self, xs):
        return -xs[0]

    def partials(self, xs, out):
        return [-1.0]

    def vjp(self, xs, out, g):
        return [-g]

    def dnodes(self, args, out):
        return [B.const(-1.0)]

    def to_sympy(self, args):
        return -args[0]


class Power(Operation):
    """a ^ b  (d/da = b*a^(b-1), d/db = a^b*log(a), which needs a > 0)"""
    symbol, notation, precedence, arity = "^", "infix", POWER, 2
    associativity, latex = "right", "{0}^{{1}}"

    code_value = {"python": "math.pow({0}, {1})", "array": "{xp}.power({0}, {1})",
                  "traced": "power({0}, {1})"}
    code_vjp = {
        "python": ("{g} * ({1} * math.pow({0}, {1} - 1.0) if {1} != 0 else 0.0)",
                   "{g} * ({out} * math.log({0}) if {0} > 0 else math.nan)"),
        "array": ("{g} * {xp}.where({1} != 0, {1} * {xp}.power({0}, {1} - 1.0), 0.0)",
                  "{g} * {xp}.where({0} > 0, {out} * {xp}.log({0}), {xp}.nan)")}
    # traced: d(0^0)/da is 0 here (b = 0), nan under jax's pow, so 0^0 reads a base of 1 there
    code_helpers = {"power": {"traced": (
        'def power(a, b):\n'
        '    """a^b; at a = b = 0 the base is taken as 1 (the same 1), so d/da is 0."""\n'
        '    if isinstance(a, float):\n'
        '        return {xp}.pow(a, b)\n'
        '    return {xp}.pow({xp}.where((a == 0) & (b == 0), 1.0, a), b)\n')}}
    onnx = "Pow"

    def compute(self, xs):
        a, b = xs
        try:
            return math.pow(a, b)
        except OverflowError:
            raise
        except (ValueError, ZeroDivisionError):
            if a == 0:
                raise DomainError("zero raised to a negative power") from None
            raise DomainError("negative number raised to a fractional power") from None

    def partials(self, xs, out):
        a, b = xs
        if b == 0:
            da = 0.0
        else:
            try:
                da = b * math.pow(a, b - 1)
            except (ValueError, ZeroDivisionError):
                da = math.inf
        db = out * math.log(a) if a > 0 else math.nan
        return [da, db]

    def dnodes(self, args, out):
        a, b = args
        return [B.mul(b, B.pow(a, B.sub(b, B.const(1.0)))), B.mul(out, B.call(Log, a))]

    def to_sympy(self, args):
        return args[0] ** args[1]


# --- functions --------------------------------------------------------------------------------

class ReLU(Operation):
    """relu(x) = max(0, x)  (relu'(x) = step(x); relu'(0) = 0)"""
    call, notation = "relu", "call"

    # array: maximum is where's value (a nan, which the guard reports anyway, aside), faster
    code_value = {"python": "{0} if {0} > 0 else 0.0", "array": "{xp}.maximum({0}, 0.0)",
                  "traced": "{xp}.where({0} > 0, {0}, 0.0)"}  # maximum: relu'(0) = 1/2
    # python: g*1.0 is g, and g*0.0 keeps the engine's sign of zero; no float*bool (slow)
    code_vjp = {"python": "{g} if {0} > 0 else {g} * 0.0",
                "array": "{g} * ({0} > 0)"}  # a bool is 1 or 0: relu'(0) = 0
    onnx = "Relu"

    def compute(self, xs):
        return xs[0] if xs[0] > 0 else 0.0

    def partials(self, xs, out):
        return [1.0 if xs[0] > 0 else 0.0]

    def dnodes(self, args, out):
        return [B.call(Step, args[0])]

    def to_sympy(self, args):
        sympy = _sympy()
        # not Max(0, x): its derivative is a Heaviside that sympy makes 1/2 at 0
        return sympy.Piecewise((args[0], args[0] > 0), (0, True))


class Sigmoid(Operation):
    """sigmoid(x) = 1/(1 + e^-x)  (sigmoid' = sigmoid*(1 - sigmoid))"""
    call, notation = "sigmoid", "call"
    latex = r"\sigma\left({args}\right)"

    code_value = "sigmoid({0})"
    code_vjp = "{g} * ({out} * (1.0 - {out}))"
    code_helpers = {"sigmoid": {
        "python": ('def sigmoid(x):\n'
                   '    """1/(1 + e^-x), from exp of a non-positive number only (no overflow)."""\n'
                   '    if x >= 0:\n'
                   '        return 1.0 / (1.0 + math.exp(-x))\n'
                   '    e = math.exp(x)\n'
                   '    return e / (1.0 + e)\n'),
        "array": ('def sigmoid(x):\n'
                  '    """1/(1 + e^-x), from exp of a non-positive number only (no overflow)."""\n'
                  '    e = {xp}.exp(-{xp}.abs(x))\n'
                  '    return {xp}.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))\n'),
        # -|x| by where: under autograd, abs'(0) = 0 would make sigmoid'(0) 0
        "traced": ('def sigmoid(x):\n'
                   '    """1/(1 + e^-x), from exp of -|x| only (no overflow)."""\n'
                   '    e = {xp}.exp({xp}.where(x >= 0, -x, x))\n'
                   '    return {xp}.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))\n')}}

    @staticmethod
    def onnx(b, args):
        """The value rule's branches, from e = exp(-|x|): ONNX's own Sigmoid loses sigmoid(-40)
        (onnxruntime's float64 kernel gives 0, not 4e-18)."""
        x = args[0]
        e = b.op("Exp", b.op("Neg", b.op("Abs", x)))
        one = b.const(1.0)
        total = b.op("Add", one, e)
        return b.op("Where", b.op("GreaterOrEqual", x, b.const(0.0)), b.op("Div", one, total),
                    b.op("Div", e, total))

    def compute(self, xs):
        x = xs[0]
        # exp of a negative number only: never overflows, sigmoid(-1000) is 0.0
        if x >= 0:
            return 1.0 / (1.0 + math.exp(-x))
        e = math.exp(x)
        return e / (1.0 + e)

    def partials(self, xs, out):
        return [out * (1.0 - out)]

    def dnodes(self, args, out):
        return [B.mul(out, B.sub(B.const(1.0), out))]

    def to_sympy(self, args):
        sympy = _sympy()
        return 1 / (1 + sympy.exp(-args[0]))

    # Training with bce on a sigmoid output reads the logit z and uses the stable log-sigmoid
    # form softplus(z) - t*z (treenet.losses): no log of 0 when sigmoid(z) rounds to 1.
    # Cross-entropy of one probability is bce.
    fused_losses = ("bce", "cross_entropy")

    def logits(self):
        """The node whose value z the fused losses read: sigmoid's argument."""
        return self.children[0]

    @staticmethod
    def of(z):
        """sigmoid(z) of one number, by the value rule above (which reads no node state)."""
        return Sigmoid.compute(None, (z,))


class Tanh(Operation):
    """tanh(x)  (tanh' = 1 - tanh^2)"""
    call, notation = "tanh", "call"
    latex = r"\tanh\left({args}\right)"

    code_value = "{xp}.tanh({0})"
    code_vjp = "{g} * (1.0 - {out} * {out})"
    onnx = "Tanh"

    def compute(self, xs):
        return math.tanh(xs[0])

    def partials(self, xs, out):
        return [1.0 - out * out]

    def dnodes(self, args, out):
        return [B.sub(B.const(1.0), B.mul(out, out))]

    def to_sympy(self, args):
        sympy = _sympy()
        return sympy.tanh(args[0])


class Exp(Operation):
    """exp(x)  (exp' = exp)"""
    call, notation = "exp", "call"
    latex = r"\exp\left({args}\right)"  # not e^{...}: arguments are long

    code_value = "{xp}.exp({0})"  # python raises OverflowError, numpy gives inf
    code_vjp = "{g} * {out}"
    onnx = "Exp"

    def compute(self, xs):
        return math.exp(xs[0])

    def partials(self, xs, out):
        return [out]

    def dnodes(self, args, out):
        return [out]

    def to_sympy(self, args):
        sympy = _sympy()
        return sympy.exp(args[0])


class Log(Operation):
    """log(x), natural, x > 0  (log' = 1/x)"""
    call, notation = "log", "call"
    latex = r"\ln\left({args}\right)"

    code_value = "{xp}.log({0})"  # python raises ValueError at x <= 0, numpy gives -inf or nan
    code_vjp = "{g} * (1.0 / {0})"
    code_passes_non_finite = True
    onnx = "Log"

    def compute(self, xs):
        if xs[0] <= 0:
            raise DomainError(f"log of a non-positive number ({xs[0]!r})")
        return math.log(xs[0])

    def partials(self, xs, out):
        return [1.0 / xs[0]]

    def dnodes(self, args, out):
        return [B.div(B.const(1.0), args[0])]

    def to_sympy(self, args):
        sympy = _sympy()
        return sympy.log(args[0])


class Abs(Operation):
    """abs(x)  (abs'(x) = sign(x); abs'(0) = 0)"""
    call, notation = "abs", "call"
    latex = r"\left|{args}\right|"

    code_value = {"python": "abs({0})", "array": "{xp}.abs({0})",
                  "traced": "{0} * {xp}.sign({0})"}  # jax's abs'(0) is 1
    code_vjp = {"python": "{g} * (1.0 if {0} > 0 else -1.0 if {0} < 0 else 0.0)",
                "array": "{g} * {xp}.sign({0})"}
    code_passes_non_finite = True
    onnx = "Abs"

    def compute(self, xs):
        return abs(xs[0])

    def partials(self, xs, out):
        x = xs[0]
        return [1.0 if x > 0 else -1.0 if x < 0 else 0.0]

    def dnodes(self, args, out):
        return [B.call(Sign, args[0])]

    def to_sympy(self, args):
        sympy = _sympy()
        # not sympy.Abs: its derivative is sympy.sign, whose own derivative is 2*DiracDelta; this
        # one differentiates to Sign's Piecewise (0 at 0, as abs'(0) = 0), and that to 0
        x = args[0]
        return sympy.Piecewise((x, x > 0), (-x, x < 0), (0, True))


class Step(Operation):
    """step(x) = 1 if x > 0 else 0  (the derivative of relu; step(0) = 0)"""
    call, notation = "step", "call"
    piecewise_constant = True

    code_value = {"python": "1.0 if {0} > 0 else 0.0", "array": "{xp}.where({0} > 0, 1.0, 0.0)",
                  # torch's where of two floats is float32, and cut off from autograd
                  "traced": "{xp}.sign({xp}.where({0} > 0, {0}, 0.0))"}
    code_vjp = "{g} * 0.0"  # kept, not dropped: a nan upstream must still reach the leaves

    @staticmethod
    def onnx(b, args):
        """where(x > 0, 1, 0)."""
        return b.op("Where", b.op("Greater", args[0], b.const(0.0)), b.const(1.0), b.const(0.0))

    def compute(self, xs):
        return 1.0 if xs[0] > 0 else 0.0

    def partials(self, xs, out):
        return [0.0]

    def dnodes(self, args, out):
        return [B.const(0.0)]

    def to_sympy(self, args):
        return _sympy_step(args[0])


class Sign(Operation):
    """sign(x) = 1, 0 or -1  (the derivative of abs)"""
    call, notation = "sign", "call"
    latex = r"\operatorname{sgn}\left({args}\right)"
    piecewise_constant = True

    code_value = {"python": "1.0 if {0} > 0 else -1.0 if {0} < 0 else 0.0",
                  "array": "{xp}.sign({0})"}
    code_vjp = "{g} * 0.0"
    onnx = "Sign"  # sign(0) = 0

    def compute(self, xs):
        x = xs[0]
        return 1.0 if x > 0 else -1.0 if x < 0 else 0.0

    def partials(self, xs, out):
        return [0.0]

    def dnodes(self, args, out):
        return [B.const(0.0)]

    def to_sympy(self, args):
        sympy = _sympy()
        # not sympy.sign, whose derivative is 2*DiracDelta: this one's is 0 (sign' = 0) at 0 too
        x = args[0]
        return sympy.Piecewise((1, x > 0), (-1, x < 0), (0, True))


class _Extreme(Operation):
    """Shared rules of max and min: the gradient goes to the first argument attaining the value."""
    notation, arity = "call", (2, None)

    # two arguments inline (the second gets g only if the first does not attain the extreme);
    # more through a helper
    code_vjp = lambda n: ("{g} * ({0} == {out})",  # noqa: E731
                          "{g} * ({1} == {out}) * ({0} != {out})") if n == 2 else None
    code_vjp_all = "first_share({g}, {out}, {a:, })"
    code_helpers = {"first_share": {
        "python": ('def first_share(g, out, *xs):\n'
                   '    """g for the first argument equal to out (the extreme), else 0."""\n'
                   '    k = xs.index(out)\n'
                   '    return [g if i == k else 0.0 * g for i in range(len(xs))]\n'),
        "array": ('def first_share(g, out, *xs):\n'
                  '    """g for the first argument equal to out (the extreme), else 0."""\n'
                  '    taken = out != out\n'
                  '    shares = []\n'
                  '    for x in xs:\n'
                  '        first = (x == out) & ~taken\n'
                  '        shares.append(g * first)\n'
                  '        taken = taken | first\n'
                  '    return shares\n')}}

    def partials(self, xs, out):
        grads = [0.0] * len(xs)
        grads[xs.index(out)] = 1.0
        return grads

    def vjp(self, xs, out, g):
        grads = [0.0] * len(xs)
        grads[xs.index(out)] = g
        return grads

    def _beats(self, a, b):
        """A node that is 1 when a strictly beats b, else 0 (a - b is 0 exactly when a == b)."""
        raise NotImplementedError

    def dnodes(self, args, out):
        # one pass, linear in the number of arguments (pairwise tests would be quadratic): argument
        # i gets the gradient iff it attains the extreme and no earlier one does; `free` is 1 while
        # no earlier argument has attained it
        result, free = [], B.const(1.0)
        for a in args[:-1]:
            short = self._beats(out, a)  # 1 when a falls short of the extreme
            result.append(B.mul(free, B.sub(B.const(1.0), short)))
            free = B.mul(free, short)
        result.append(free)  # the last argument gets it iff no earlier one attains it
        return result

    def to_sympy(self, args):
        sympy = _sympy()
        # a Piecewise in argument order, so ties go to the first argument, as in the engine
        cases = []
        for i, a in enumerate(args[:-1]):
            cond = sympy.And(*[self._sympy_wins(a, b) for b in args[i + 1:]])
            cases.append((a, cond))
        cases.append((args[-1], True))
        return sympy.Piecewise(*cases)

    # See Add.update: O(1) per moved argument, with the value compute would give, signed zeros
    # and ties to the first argument included.
    def update_state(self, xs, out):
        """(out, the first argument attaining it, the second one and its value, the best value
        short of out and its first argument); None with a nan, which compute orders by
        position."""
        if any(x != x for x in xs):
            return None
        better, first = self._better, xs.index(out)
        second = next((i for i in range(first + 1, len(xs)) if xs[i] == out), None)
        runner, runner_at = None, None
        for i, x in enumerate(xs):
            if x != out and (runner is None or better(x, runner)):
                runner, runner_at = x, i
        return out, first, second, None if second is None else xs[second], runner, runner_at

    def update(self, state, k, old, new):
        """(the extreme with argument k moved to new, whether the first argument attaining it
        is the same one)."""
        if new != new:
            return None
        out, first, second, second_value, runner, runner_at = state
        better = self._better
        if better(new, out) or (new == out and k <= first):
            at, value = k, new
        elif new == out or k != first:
            at, value = first, out
        elif second is not None:  # the first attaining argument fell short; a tie takes over
            at, value = second, second_value
        elif better(new, runner) or (new == runner and k < runner_at):
            at, value = k, new
        else:
            at, value = runner_at, runner
        return value, at == first


def _extreme_code(python, array, keeps):
    """The code templates of an n-way max or min: Python's `max`/`min` in the python target;
    in the array target the module's element-wise `maximum`/`minimum` for two arguments, and for
    more a helper that folds it (the module's own takes two). Traced: `where(a KEEPS b, a, b)`
    folded from the left, so a tie keeps the first argument and its whole gradient (`maximum`
    splits it)."""
    helper = (f"def {array}(*xs):\n"
              f'    """The element-wise {array} of the arguments."""\n'
              "    out = xs[0]\n"
              "    for x in xs[1:]:\n"
              f"        out = {{xp}}.{array}(out, x)\n"
              "    return out\n")
    first = f"{array}_first"
    traced = (f"def {first}(*xs):\n"
              f'    """The element-wise {python} of the arguments, the first one on a tie."""\n'
              "    out = xs[0]\n"
              "    for x in xs[1:]:\n"
              "        if isinstance(out, float) and isinstance(x, float):  # two literals\n"
              f"            out = out if out {keeps} x else x\n"
              "        else:\n"
              f"            out = {{xp}}.where(out {keeps} x, out, x)\n"
              "    return out\n")
    value = {"python": python + "({a:, })",
             "array": lambda n: ("{xp}.%s({0}, {1})" % array) if n == 2 else array + "({a:, })",
             "traced": lambda n: (("{xp}.where({0} %s {1}, {0}, {1})" % keeps) if n == 2
                                  else first + "({a:, })")}
    return value, dict(_Extreme.code_helpers, **{array: helper, first: {"traced": traced}})


class Max(_Extreme):
    """max(a, b, ...)  (d/da = 1 for the first argument equal to the max, else 0)"""
    call = "max"
    latex = r"\max\left({args}\right)"

    code_value, code_helpers = _extreme_code("max", "maximum", ">=")
    onnx = "Max"  # n-ary; which of tied arguments gives the value does not change it

    def compute(self, xs):
        return max(xs)

    def _beats(self, a, b):
        return B.call(Step, B.sub(a, b))

    def _sympy_wins(self, a, b):
        return a >= b

    def _better(self, a, b):
        """Whether a strictly beats b (see update)."""
        return a > b


class Min(_Extreme):
    """min(a, b, ...)  (d/da = 1 for the first argument equal to the min, else 0)"""
    call = "min"
    latex = r"\min\left({args}\right)"

    code_value, code_helpers = _extreme_code("min", "minimum", "<=")
    onnx = "Min"

    def compute(self, xs):
        return min(xs)

    def _beats(self, a, b):
        return B.call(Step, B.sub(b, a))

    def _sympy_wins(self, a, b):
        return a <= b

    def _better(self, a, b):
        """Whether a strictly beats b (see update)."""
        return a < b


# --- vector outputs (root only) ---------------------------------------------------------------

class Output(Operation):
    """[a, b, ...]: a vector output; `predict` returns a list of floats."""
    notation, arity, vector_valued = "vector", (1, None), True
    latex = r"\left[{args}\right]"

    # the value is a list (python) or an array of shape (n, k) (array); g is its upstream list
    code_value = {"python": "[{a:, }]",
                  "array": "{xp}.stack({xp}.broadcast_arrays({a:, }), axis=-1)",
                  "traced": "columns({zeros}, {a:, })"}  # torch has no broadcast_arrays
    code_vjp = {"python": "{g}[{i}]", "array": "{g}[..., {i}]"}
    code_helpers = {"columns": {"traced": (
        'def columns(zeros, *xs):\n'
        '    """The arguments as the columns of one array, each broadcast over the batch."""\n'
        '    return {xp}.stack([x + zeros for x in xs], axis=-1)\n')}}

    @staticmethod
    def onnx(b, args):
        """The arguments as the columns of an (n, k) matrix (each broadcast to the batch)."""
        axis = b.ints([1])
        return b.op("Concat", *[b.op("Unsqueeze", b.batch(a), axis) for a in args], axis=1)

    def compute(self, xs):
        return list(xs)

    def vjp(self, xs, out, g):
        return list(g)

    def dnodes(self, args, out):
        raise NotImplementedError("vector outputs are differentiated component by component: "
                                  "see component_dnodes")

    def to_sympy(self, args):
        return list(args)

    def component_node(self, args, k):
        """Component k as a scalar node over `args`: a_k."""
        return args[k]

    def component_dnodes(self, args, k):
        """d(component k)/d(a_j) for each argument j, as nodes: 1 for j = k, else 0."""
        return [B.const(1.0 if j == k else 0.0) for j in range(len(args))]


class Softmax(Output):
    """softmax(a, b, ...)_i = e^a_i / sum_j e^a_j, computed stably (shifted by the max)."""
    call, notation = "softmax", "call"

    code_value = {"python": "softmax({a:, })", "array": "softmax({a:, })",
                  "traced": "softmax({zeros}, {a:, })"}
    code_vjp = None
    code_vjp_all = "softmax_vjp({g}, {out})"
    code_helpers = {
        "softmax": {
            "python": ('def softmax(*xs):\n'
                       '    """e^x_i / sum_j e^x_j, shifted by the max so nothing overflows."""\n'
                       '    m = max(xs)\n'
                       '    es = [math.exp(x - m) for x in xs]\n'
                       '    total = sum(es)\n'
                       '    return [e / total for e in es]\n'),
            "array": ('def softmax(*xs):\n'
                      '    """e^x_i / sum_j e^x_j, shifted by the max so nothing overflows."""\n'
                      '    xs = {xp}.broadcast_arrays(*xs)\n'
                      '    m = xs[0]\n'
                      '    for x in xs[1:]:\n'
                      '        m = {xp}.maximum(m, x)\n'
                      '    es = [{xp}.exp(x - m) for x in xs]\n'
                      '    total = es[0]\n'
                      '    for e in es[1:]:\n'
                      '        total = total + e\n'
                      '    return {xp}.stack([e / total for e in es], axis=-1)\n'),
            # the max by where (maximum takes no float in torch); its gradient cancels out
            "traced": ('def softmax(zeros, *xs):\n'
                       '    """e^x_i / sum_j e^x_j, shifted by the max so nothing overflows."""\n'
                       '    xs = [x + zeros for x in xs]\n'
                       '    m = xs[0]\n'
                       '    for x in xs[1:]:\n'
                       '        m = {xp}.where(m >= x, m, x)\n'
                       '    es = [{xp}.exp(x - m) for x in xs]\n'
                       '    total = es[0]\n'
                       '    for e in es[1:]:\n'
                       '        total = total + e\n'
                       '    return {xp}.stack([e / total for e in es], axis=-1)\n')},
        "softmax_vjp": {
            "python": ('def softmax_vjp(g, y):\n'
                       '    """y_i * (g_i - sum_j g_j y_j) for each i."""\n'
                       '    dot = sum(gi * yi for gi, yi in zip(g, y))\n'
                       '    return [yi * (gi - dot) for gi, yi in zip(g, y)]\n'),
            "array": ('def softmax_vjp(g, y):\n'
                      '    """y_i * (g_i - sum_j g_j y_j) for each i (rows are samples)."""\n'
                      '    k = y.shape[-1]\n'
                      '    dot = g[..., 0] * y[..., 0]\n'
                      '    for j in range(1, k):\n'
                      '        dot = dot + g[..., j] * y[..., j]\n'
                      '    return [y[..., j] * (g[..., j] - dot) for j in range(k)]\n')}}

    @staticmethod
    def onnx(b, args):
        """ONNX Softmax over the row of arguments: shifted by the row's max, as `compute` is."""
        return b.op("Softmax", Output.onnx(b, args), axis=1)

    def compute(self, xs):
        m = max(xs)
        es = [math.exp(x - m) for x in xs]
        total = sum(es)
        return [e / total for e in es]

    def vjp(self, xs, out, g):
        dot = sum(gi * yi for gi, yi in zip(g, out))
        return [yi * (gi - dot) for gi, yi in zip(g, out)]

    def to_sympy(self, args):
        sympy = _sympy()
        es = [sympy.exp(a) for a in args]
        total = sympy.Add(*es)
        return [e / total for e in es]

    # Training with cross_entropy on a softmax output reads the logits z and uses
    # logsumexp(z) - t.z (treenet.losses): no log of 0 when a probability rounds to 0.
    fused_losses = ("cross_entropy",)

    def logits(self):
        """A vector node of the logits z the fused loss reads: softmax's arguments."""
        return Output(list(self.children))

    @staticmethod
    def of(zs):
        """softmax(zs) of a list of numbers, by the value rule above (which reads no node
        state)."""
        return Softmax.compute(None, zs)

    def component_node(self, args, k):
        """softmax_k as a scalar node over `args`, as stable as `compute` (see `_components`)."""
        return self._components(args)[k]

    def component_dnodes(self, args, k):
        """d softmax_k/d a_j = s_k*(delta_kj - s_j): the row of the Jacobian that `vjp` applies.
        The max's derivative cancels out (shift invariance), so no max selection is built."""
        s = self._components(args)
        return [B.mul(s[k], B.sub(B.const(1.0), s[k])) if j == k else B.neg(B.mul(s[k], s[j]))
                for j in range(len(args))]

    def _components(self, args):
        """Every softmax_j as a node: e_j / (e_0 + e_1 + ...), e_j = exp(a_j/2 - m/2)^2 with
        m = max(a_0, ...), which is exp(a_j - m) as `compute` shifts it, but a_j - m itself
        overflows at a_j = -1e308, m = 1e308, while the halves never do (and e_j is in [0, 1])."""
        if len(args) == 1:
            return [B.const(1.0)]
        half_top = B.div(Max(list(args)), B.const(2.0))
        es = [B.pow(B.call(Exp, B.sub(B.div(a, B.const(2.0)), half_top)), B.const(2.0))
              for a in args]
        total = B.add(*es)
        return [B.div(e, total) for e in es]


REGISTRY = Operation._registry
"""Every op and macro class by class name; a Macro subclass declared later with a `call` name
joins it, and so the language."""


_calls_cache = (None, {})


def calls():
    """The ops and macros written as calls, by their name in the language."""
    global _calls_cache
    key = tuple(REGISTRY)  # a Macro subclass declared later changes the key
    if _calls_cache[0] != key:
        _calls_cache = (key, {cls.call: cls for cls in REGISTRY.values() if cls.call})
    return _calls_cache[1]


def scalar_ops():
    """The scalar elementary ops: the set the tests push through value and derivative checks."""
    return [cls for cls in REGISTRY.values()
            if not issubclass(cls, Macro) and not cls.vector_valued]

__all__ = ["Add", "Subtract", "Multiply", "Divide", "Negate", "Power", "ReLU", "Sigmoid", "Tanh",
           "Exp", "Log", "Abs", "Step", "Sign", "Max", "Min", "Output", "Softmax", "Linear",
           "Constant", "REGISTRY", "calls", "scalar_ops"]

from . import algebra as B  # noqa: E402  (the builders need the classes above)

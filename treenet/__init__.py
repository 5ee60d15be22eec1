"""treenet: neural networks written as formulas, compiled to expression graphs, differentiated
by a backward pass and checked against sympy.

The modules are layered: each imports only from the modules before it in this order (lowest
first; tests/test_layering.py reads every import, function-level ones included, and checks it):

    errors -> nodes -> order -> ir -> algebra -> ops -> macros -> layers -> names -> printer
    -> graph -> lalr -> parser -> io -> dot -> display -> symbolic -> derivative -> gradcheck
    -> templates -> generator -> arrayfn -> losses -> optimizers -> steps -> plot -> train
    -> onnxnet -> torchnet -> jaxnet -> table -> session -> treenet (this file) -> demo -> lexer
    -> repl -> cli -> __main__

`nodes` holds the node classes, `order` the topological sort, `ir` the immutable structure every
pass reads (built once per compile), `algebra` the constant-folding builders (they find the op
classes in the registry), `ops` every op, `macros` Linear, `names` the language's reserved names,
`graph` the interpreted engine (the IR and its run-time state), `templates` and `generator` the
code generator (`treenet.codegen`), `arrayfn` the forward pass for any array module, which
`torchnet` and `jaxnet` export to PyTorch and JAX (`to_torch`, `to_jax`: torch and jax are
imported only when called), `onnxnet` the ONNX export (`treenet.to_onnx`), `steps` training on
generated code (`train`'s backends), `dot` the pictures (`to_dot`, `draw`), `display` the repr
and Jupyter's display, `plot` the loss curves (`History.plot`), `table` training data from CSV
files, `session` statements run one after another (`Session`, and the commands that `repl` and
`cli`, the `treenet` command, share), `lexer` the pygments lexer. The node methods that need a
higher layer (`compile`, `funcify`, `save`, `predict` on a batch, `draw`, the reprs) call entry
points this file installs into `treenet.nodes`."""

from .errors import (EvaluationError, FileError, MissingRuleError, ParseError, TrainingError,
                     TreenetError)
from . import nodes as _nodes
from .nodes import Constant, Input, Leaf, Macro, NeuralNetNode, Operation, Parameter
from .ops import (Abs, Add, Divide, Exp, Log, Max, Min, Multiply, Negate, Output, Power, ReLU,
                  Sigmoid, Sign, Softmax, Step, Subtract, Tanh)
from .macros import Linear
from .layers import dense
from .printer import funcify, latex
from .graph import Graph
from .parser import parse
from .io import load, save
from .dot import draw, to_dot
from . import display as _display
from .symbolic import to_sympy
from .derivative import derivative, gradient
from .gradcheck import GradCheck, gradcheck
from . import losses, optimizers
from .train import Evaluation, History, evaluate, train, train_model
from .generator import codegen
from .onnxnet import to_onnx
from .torchnet import from_torch, to_torch
from .jaxnet import from_jax, to_jax
from .session import Session
from . import generator as _generator

_nodes.install(compile=Graph, funcify=funcify, save=save,
               predict_batch=_generator.predict_batch)
_nodes.install(draw=draw, repr=_display.network_repr, repr_latex=_display.repr_latex,
               repr_mimebundle=_display.repr_mimebundle)

__version__ = "0.1.0"

__all__ = [
    "parse", "funcify", "latex", "Graph",
    "NeuralNetNode", "Leaf", "Input", "Parameter", "Constant", "Operation", "Macro", "Linear",
    "Add", "Subtract", "Multiply", "Divide", "Negate", "Power", "ReLU", "Sigmoid", "Tanh", "Exp",
    "Log", "Abs", "Step", "Sign", "Max", "Min", "Output", "Softmax",
    "TreenetError", "ParseError", "EvaluationError", "TrainingError", "FileError",
    "MissingRuleError",
    "train", "train_model", "History", "evaluate", "Evaluation", "losses", "optimizers", "load", "save", "dense",
    "to_sympy", "derivative", "gradient", "gradcheck", "GradCheck",
    "codegen", "to_dot", "draw", "to_onnx", "to_torch", "from_torch", "to_jax", "from_jax",
    "Session",
]

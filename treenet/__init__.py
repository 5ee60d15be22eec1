"""treenet: neural networks written as formulas, compiled to expression graphs, differentiated
by a backward pass and checked against sympy.

The modules are layered: each imports only from the modules before it in this order (lowest
first; tests/test_layering.py reads every import, function-level ones included, and checks it):

    errors -> nodes -> order -> ir -> algebra -> ops -> macros -> layers -> names -> printer
    -> graph -> lalr -> parser -> io -> symbolic -> derivative -> gradcheck -> templates
    -> generator -> losses -> optimizers -> steps -> train -> table -> session
    -> treenet (this file) -> demo -> lexer -> repl -> cli -> __main__

`nodes` holds the node classes, `order` the topological sort, `ir` the immutable structure every
pass reads (built once per compile), `algebra` the constant-folding builders (they find the op
classes in the registry), `ops` every op, `macros` Linear, `names` the language's reserved names,
`graph` the interpreted engine (the IR and its run-time state), `templates` and `generator` the
code generator (`treenet.codegen`), `steps` training on generated code (`train`'s backends),
`table` training data from CSV files, `session` statements run one after another (`Session`, and
the commands `repl` and `cli`, the `treenet` command, share), `lexer` the pygments lexer. The
node methods that need a higher layer (`compile`, `funcify`, `save`, `predict` on a batch) call
entry points this file installs into `treenet.nodes`."""

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
from .symbolic import to_sympy
from .derivative import derivative, gradient
from .gradcheck import GradCheck, gradcheck
from . import losses, optimizers
from .train import Evaluation, History, evaluate, train, train_model
from .generator import codegen
from .session import Session
from . import generator as _generator

_nodes.install(compile=Graph, funcify=funcify, save=save, 
               predict_batch=_generator.predict_batch)

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
    "codegen", "Session",
]

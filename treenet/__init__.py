"""treenet: neural networks written as formulas, compiled to expression graphs, differentiated
by a backward pass and checked against sympy."""

from .errors import EvaluationError, ParseError, TrainingError, TreenetError
from .graph import Graph
from .nodes import (Constant, Input, Leaf, Linear, Macro, NeuralNetNode, Operation, Parameter)
from .ops import (Abs, Add, Divide, Exp, Log, Max, Min, Multiply, Negate, Output, Power, ReLU,
                  Sigmoid, Sign, Softmax, Step, Subtract, Tanh)
from .parser import parse
from .printer import funcify, latex
from .symbolic import to_sympy
from .derivative import derivative, gradient
from .gradcheck import GradCheck, gradcheck
from . import losses, optimizers
from .io import load, save
from .layers import dense
from .train import History, train, train_model
from .codegen import codegen

__version__ = "0.1.0"

__all__ = [
    "parse", "funcify", "latex", "Graph",
    "NeuralNetNode", "Leaf", "Input", "Parameter", "Constant", "Operation", "Macro", "Linear",
    "Add", "Subtract", "Multiply", "Divide", "Negate", "Power", "ReLU", "Sigmoid", "Tanh", "Exp",
    "Log", "Abs", "Step", "Sign", "Max", "Min", "Output", "Softmax",
    "TreenetError", "ParseError", "EvaluationError", "TrainingError",
    "train", "train_model", "History", "losses", "optimizers", "load", "save", "dense",
    "to_sympy", "derivative", "gradient", "gradcheck", "GradCheck",
    "codegen",
]

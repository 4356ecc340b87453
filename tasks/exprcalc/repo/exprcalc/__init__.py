"""exprcalc: safe evaluation of arithmetic expressions."""

from .evaluator import FUNCTIONS, evaluate
from .parser import BinOp, Call, ExprError, Name, Num, UnaryOp, parse
from .tokenizer import Token, tokenize

__all__ = ["BinOp", "Call", "ExprError", "FUNCTIONS", "Name", "Num", "Token", "UnaryOp", "evaluate", "parse", "tokenize"]
__version__ = "1.2.0"

"""A precedence-climbing parser producing a small AST."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .tokenizer import ExprError, Token, tokenize


@dataclass(frozen=True)
class Num:
    value: Union[int, float]


@dataclass(frozen=True)
class Name:
    name: str
    pos: int


@dataclass(frozen=True)
class UnaryOp:
    op: str
    operand: "Node"


@dataclass(frozen=True)
class BinOp:
    op: str
    left: "Node"
    right: "Node"
    pos: int


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple["Node", ...]
    pos: int


Node = Union[Num, Name, UnaryOp, BinOp, Call]

# Binding power of each binary operator: higher binds tighter.
BINARY_PRECEDENCE = {"+": 10, "-": 10, "*": 20, "/": 20, "//": 20, "%": 20, "**": 40}
UNARY_PRECEDENCE = 30
RIGHT_ASSOCIATIVE: set[str] = set()


class _Parser:
    def __init__(self, text: str):
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, kind: str) -> Token:
        tok = self.next()
        if tok.kind != kind:
            raise ExprError(f"expected {kind!r} but found {tok.text or 'end of input'!r}", tok.pos)
        return tok

    def expression(self, min_prec: int = 0) -> Node:
        """Parse operators binding at least as tightly as ``min_prec``."""
        left = self.prefix()
        while True:
            tok = self.peek()
            prec = BINARY_PRECEDENCE.get(tok.text) if tok.kind == "op" else None
            if prec is None or prec < min_prec:
                return left
            self.next()
            next_min = prec if tok.text in RIGHT_ASSOCIATIVE else prec + 1
            right = self.expression(next_min)
            left = BinOp(tok.text, left, right, tok.pos)

    def prefix(self) -> Node:
        tok = self.next()
        if tok.kind == "num":
            text = tok.text
            return Num(float(text) if any(c in text for c in ".eE") else int(text))
        if tok.kind == "op" and tok.text in "+-":
            return UnaryOp(tok.text, self.expression(UNARY_PRECEDENCE))
        if tok.kind == "(":
            node = self.expression()
            self.expect(")")
            return node
        if tok.kind == "name":
            if self.peek().kind != "(":
                return Name(tok.text, tok.pos)
            self.next()
            args: list[Node] = []
            if self.peek().kind != ")":
                args.append(self.expression())
                while self.peek().kind == ",":
                    self.next()
                    args.append(self.expression())
            self.expect(")")
            return Call(tok.text, tuple(args), tok.pos)
        raise ExprError(f"unexpected {tok.text or 'end of input'!r}", tok.pos)


def parse(text: str) -> Node:
    """Parse ``text`` into an AST; raises :class:`ExprError` on syntax errors."""
    parser = _Parser(text)
    node = parser.expression()
    tok = parser.peek()
    if tok.kind != "end":
        raise ExprError(f"unexpected {tok.text!r}", tok.pos)
    return node

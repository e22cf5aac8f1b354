"""Parsing a list filter into a ``VisibilityQuery``: Temporal's list filter language, built-in attributes only.

The grammar is lark's (LALR(1), so parsing is linear and never backtracks); the tree it gives is turned into the
typed tree of ``_ast`` and checked as it goes: each attribute must exist (else "did you mean"), each operator must
suit the attribute's kind, and each literal must be of its type (a status that exists, an RFC 3339 time). Every
refusal is an ``InvalidQueryError`` naming the line and column of the token at fault, with a caret under it.

Bounds: a query is at most ``MAX_QUERY_LENGTH`` characters and nests at most ``MAX_DEPTH`` levels (parentheses
and NOT), so hostile input costs little and is refused in words, never by a RecursionError.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import lark
from lark import Token, Tree

from ..errors import InvalidQueryError
from ._ast import (
    BUILTIN,
    DEFAULT_ORDER,
    MAX_QUERY_LENGTH,
    STATUS_NAMES,
    And,
    Attribute,
    Between,
    Comparison,
    Expr,
    InList,
    IsNull,
    Kind,
    Not,
    Or,
    OrderBy,
    StartsWith,
    Value,
    VisibilityQuery,
)

__all__ = ["MAX_DEPTH", "MAX_QUERY_LENGTH", "parse_query"]

#: The deepest nesting of parentheses and NOTs taken.
MAX_DEPTH = 32
#: The most values one IN list may hold (each is a parameter; old SQLite builds take at most 999 in all).
MAX_IN_VALUES = 500

# Keywords are regular expressions ending at a word boundary, with a priority over attribute names: a literal
# "IN" would otherwise take the first two letters of an attribute called "Index".
_GRAMMAR = r"""
start: [expr] [order_by]

?expr: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: NOT not_expr -> not_
         | _LPAR expr _RPAR -> group
         | predicate

?predicate: NAME COMP_OP value -> compare
          | NAME [NOT] _IN _LPAR value (_COMMA value)* _RPAR -> in_list
          | NAME [NOT] _BETWEEN value _AND value -> between
          | NAME [NOT] _STARTS_WITH value -> starts_with
          | NAME _IS [NOT] _NULL -> is_null

?value: STRING | NUMBER | BOOLEAN

order_by: _ORDER _BY NAME [DIRECTION]

_OR.2: /OR\b/i
_AND.2: /AND\b/i
NOT.2: /NOT\b/i
_IN.2: /IN\b/i
_BETWEEN.2: /BETWEEN\b/i
_STARTS_WITH.2: /STARTS_WITH\b/i
_IS.2: /IS\b/i
_NULL.2: /NULL\b/i
_ORDER.2: /ORDER\b/i
_BY.2: /BY\b/i
DIRECTION.2: /(ASC|DESC)\b/i
BOOLEAN.2: /(true|false)\b/i
_LPAR: "("
_RPAR: ")"
_COMMA: ","
COMP_OP: "<=" | ">=" | "!=" | "<>" | "=" | "<" | ">"
STRING: /'(?:[^'\\]|''|\\.)*'/ | /"(?:[^"\\]|""|\\.)*"/
NUMBER: /-?[0-9]+(\.[0-9]+)?/
NAME: /[A-Za-z_][A-Za-z0-9_]*/

%import common.WS
%ignore WS
"""


@functools.cache
def _parser() -> lark.Lark:
    # Built at the first query, not at import: a server that is never asked one does not pay for it.
    return lark.Lark(_GRAMMAR, parser="lalr", lexer="contextual", maybe_placeholders=True, propagate_positions=True)


#: How the parser's terminals read in a message of what was expected.
_SAY = {
    "_OR": "OR",
    "_AND": "AND",
    "NOT": "NOT",
    "_IN": "IN",
    "_BETWEEN": "BETWEEN",
    "_STARTS_WITH": "STARTS_WITH",
    "_IS": "IS",
    "_NULL": "NULL",
    "_ORDER": "ORDER BY",
    "_BY": "BY",
    "DIRECTION": "ASC or DESC",
    "_LPAR": "(",
    "_RPAR": ")",
    "_COMMA": ",",
    "COMP_OP": "a comparison (=, !=, <, <=, >, >=)",
    "STRING": "a value in quotes",
    "NUMBER": "a number",
    "BOOLEAN": "true or false",
    "NAME": "an attribute name",
    "$END": "the end of the query",
}

#: The operators each kind of attribute takes (IS NULL every kind takes).
_OPS: Mapping[Kind, frozenset[str]] = {
    Kind.KEYWORD: frozenset({"=", "!=", "<", "<=", ">", ">=", "IN", "BETWEEN", "STARTS_WITH"}),
    Kind.STATUS: frozenset({"=", "!=", "IN"}),
    Kind.DATETIME: frozenset({"=", "!=", "<", "<=", ">", ">=", "IN", "BETWEEN"}),
    Kind.DURATION: frozenset({"=", "!=", "<", "<=", ">", ">=", "IN", "BETWEEN"}),
    Kind.TEXT: frozenset({"=", "!="}),
    Kind.INT: frozenset({"=", "!=", "<", "<=", ">", ">=", "IN", "BETWEEN"}),
    Kind.DOUBLE: frozenset({"=", "!=", "<", "<=", ">", ">=", "IN", "BETWEEN"}),
    Kind.BOOL: frozenset({"=", "!="}),
    Kind.KEYWORD_LIST: frozenset({"=", "!=", "IN"}),
}

_STATUS_NAMES = {name: status for status, name in STATUS_NAMES.items()}
#: Temporal's names and ours (RUNNING, TIMED_OUT), in any case: what matters is the status meant.
_STATUS_BY_KEY = {name.lower(): status for name, status in _STATUS_NAMES.items()}

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.(\d+))?(?:[Zz]|[+-]\d{2}:\d{2})")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_query(text: str, attributes: Mapping[str, Attribute] = BUILTIN) -> VisibilityQuery:
    """Parse and check a list filter; ``InvalidQueryError`` if it is refused. An empty (or blank) query
    selects every run, newest first."""
    if len(text) > MAX_QUERY_LENGTH:
        raise _error(
            text,
            MAX_QUERY_LENGTH,
            f"the query is {len(text):,} characters long; at most {MAX_QUERY_LENGTH:,} are taken",
        )
    try:
        tree = _parser().parse(text)
    except lark.exceptions.UnexpectedCharacters as e:
        at = e.pos_in_stream or 0
        char = text[at : at + 1]
        what = "a value whose closing quote is missing" if char in "'\"" else f"unexpected character {char!r}"
        raise _error(text, at, what) from None
    except lark.exceptions.UnexpectedEOF as e:
        raise _error(
            text, len(text), f"the query ends too soon; expected {_expected({str(t) for t in e.expected})}"
        ) from None
    except lark.exceptions.UnexpectedToken as e:
        token = e.token
        if token.type == "$END":
            raise _error(text, len(text), f"the query ends too soon; expected {_expected(e.expected)}") from None
        raise _error(
            text, token.start_pos or 0, f"unexpected {str(token)!r}; expected {_expected(e.expected)}"
        ) from None
    return _Builder(text, attributes).query(tree)


def _expected(names: set[str] | frozenset[str]) -> str:
    said = sorted({_SAY.get(n, n) for n in names})
    return said[0] if len(said) == 1 else ", ".join(said[:-1]) + " or " + said[-1]


def _error(text: str, position: int, what: str) -> InvalidQueryError:
    """The refusal, pointing at ``position`` (an offset into ``text``): its line and column, and a caret."""
    position = max(0, min(position, len(text)))
    line = text.count("\n", 0, position) + 1
    line_start = text.rfind("\n", 0, position) + 1
    column = position - line_start + 1
    line_end = text.find("\n", position)
    shown = text[line_start : line_end if line_end >= 0 else len(text)]
    if len(shown) > 120:  # a very long line: show the part around the token
        cut = max(0, column - 60)
        shown, caret_at = shown[cut : cut + 120], column - 1 - cut
    else:
        caret_at = column - 1
    where = f"column {column}" if line == 1 and "\n" not in text else f"line {line}, column {column}"
    message = f"invalid query at {where}: {what}\n  {shown}\n  {' ' * caret_at}^"
    details = {"query": text[:MAX_QUERY_LENGTH], "position": position, "line": line, "column": column}
    return InvalidQueryError(message, code="invalid_query", details=details)


class _Builder:
    """Turns lark's tree into ``_ast``'s, checking names, operators and values on the way."""

    def __init__(self, text: str, attributes: Mapping[str, Attribute]) -> None:
        self.text = text
        self.attributes = attributes

    def fail(self, token: Token, what: str) -> InvalidQueryError:
        return _error(self.text, token.start_pos or 0, what)

    def query(self, tree: Tree[Token]) -> VisibilityQuery:
        where_tree, order_tree = tree.children
        where = None if where_tree is None else self.expr(where_tree, 0)
        order = DEFAULT_ORDER if order_tree is None else self.order_by(order_tree)
        return VisibilityQuery(where, order, self.text)

    def order_by(self, tree: Tree[Token] | Token) -> OrderBy:
        assert isinstance(tree, Tree)
        name, direction = tree.children
        assert isinstance(name, Token)
        attribute = self.attribute(name)
        if not attribute.orderable:
            orderable = ", ".join(a.name for a in self.attributes.values() if a.orderable)
            raise self.fail(name, f"cannot order by {attribute.name}; order by {orderable}")
        descending = direction is None or str(direction).upper() == "DESC"
        return OrderBy(attribute, descending)

    def attribute(self, token: Token) -> Attribute:
        name = str(token)
        found = self.attributes.get(name)
        if found is not None:
            return found
        by_case = {n.lower(): n for n in self.attributes}
        close = [by_case[name.lower()]] if name.lower() in by_case else []
        close = close or difflib.get_close_matches(name, list(self.attributes), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"the attributes are {', '.join(self.attributes)}"
        raise self.fail(token, f"unknown attribute {name!r}; {hint}")

    def expr(self, node: Tree[Token] | Token, depth: int) -> Expr:
        """``depth``: how many parentheses and NOTs enclose ``node`` (AND and OR add none: they alternate only
        through parentheses, so the recursion stays within a few times MAX_DEPTH)."""
        assert isinstance(node, Tree)
        kind = node.data
        children = node.children
        if kind in ("not_", "group") and depth >= MAX_DEPTH:
            where = node.meta.start_pos if not node.meta.empty else 0
            raise _error(self.text, where, f"the query nests deeper than {MAX_DEPTH} levels (parentheses and NOT)")
        if kind == "or_expr":
            return Or(tuple(self.expr(c, depth) for c in children))
        if kind == "and_expr":
            return And(tuple(self.expr(c, depth) for c in children))
        if kind == "not_":
            return Not(self.expr(children[1], depth + 1))
        if kind == "group":
            return self.expr(children[0], depth + 1)
        return self.predicate(node)

    def predicate(self, node: Tree[Token]) -> Expr:
        kind = node.data
        name = node.children[0]
        assert isinstance(name, Token)
        attribute = self.attribute(name)
        if kind == "compare":
            _, op_token, value = node.children
            assert isinstance(op_token, Token) and isinstance(value, Token)
            op = "!=" if str(op_token) == "<>" else str(op_token)
            self.check_op(attribute, op, op_token)
            return Comparison(attribute, op, self.value(attribute, value))
        if kind == "is_null":
            return IsNull(attribute, negated=node.children[1] is not None)
        negated = node.children[1] is not None
        values = node.children[2:]
        op = {"in_list": "IN", "between": "BETWEEN", "starts_with": "STARTS_WITH"}[str(kind)]
        self.check_op(attribute, op, name)
        tokens = [v for v in values if isinstance(v, Token)]
        if kind == "in_list":
            if len(tokens) > MAX_IN_VALUES:
                raise self.fail(tokens[MAX_IN_VALUES], f"an IN list holds at most {MAX_IN_VALUES} values")
            return InList(attribute, tuple(self.value(attribute, v) for v in tokens), negated)
        if kind == "between":
            return Between(attribute, self.value(attribute, tokens[0]), self.value(attribute, tokens[1]), negated)
        prefix = self.value(attribute, tokens[0])
        assert isinstance(prefix, str)
        return StartsWith(attribute, prefix, negated)

    def check_op(self, attribute: Attribute, op: str, token: Token) -> None:
        allowed = _OPS[attribute.kind]
        if op not in allowed:
            said = ", ".join(sorted(allowed)) + ", IS NULL"
            raise self.fail(token, f"{attribute.name} does not take {op}; it takes {said}")

    def value(self, attribute: Attribute, token: Token) -> Value:
        kind = attribute.kind
        if kind in (Kind.INT, Kind.DOUBLE):
            if token.type != "NUMBER":
                raise self.fail(token, f"{attribute.name} takes a number ({_example(kind)}), not {token!s}")
            number = str(token)
            if kind is Kind.DOUBLE:
                return float(number)
            if "." in number:
                raise self.fail(token, f"{attribute.name} is an Int: it takes a whole number, not {number}")
            value = int(number)
            if not -(2**63) <= value < 2**63:
                raise self.fail(token, f"{attribute.name} takes a 64-bit integer, not {number}")
            return value
        if kind is Kind.BOOL:
            word = _unquote(str(token)) if token.type == "STRING" else str(token)
            if token.type == "NUMBER" or word.lower() not in ("true", "false"):
                raise self.fail(token, f"{attribute.name} takes true or false, not {token!s}")
            return word.lower() == "true"
        if token.type != "STRING":
            raise self.fail(token, f"{attribute.name} takes a value in quotes ({_example(kind)})")
        text = _unquote(str(token))
        if attribute.kind in (Kind.KEYWORD, Kind.TEXT, Kind.KEYWORD_LIST):
            return text
        if attribute.kind is Kind.STATUS:
            status = _STATUS_BY_KEY.get(text.replace("_", "").lower())
            if status is None:
                raise self.fail(token, f"unknown ExecutionStatus {text!r}; use one of {', '.join(_STATUS_NAMES)}")
            return status
        if attribute.kind is Kind.DATETIME:
            when = _rfc3339(text)
            if when is None:
                raise self.fail(
                    token, f"{attribute.name} takes an RFC 3339 time such as '2026-11-01T00:00:00Z', not {text!r}"
                )
            return when
        duration = _duration(text)
        if duration is None:
            raise self.fail(token, f"{attribute.name} takes a duration such as '90s', '1h30m' or '250ms', not {text!r}")
        return duration


def _example(kind: Kind) -> str:
    return {
        Kind.KEYWORD: "'order-1'",
        Kind.STATUS: "'Running'",
        Kind.DATETIME: "'2026-11-01T00:00:00Z'",
        Kind.DURATION: "'90s' or '1h30m'",
        Kind.TEXT: "'some words'",
        Kind.INT: "3",
        Kind.DOUBLE: "2.5",
        Kind.BOOL: "true",
        Kind.KEYWORD_LIST: "'tag-1'",
    }[kind]


def _unquote(literal: str) -> str:
    quote, body = literal[0], literal[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            out.append(body[i + 1])
            i += 2
        elif c == quote:  # doubled, as SQL writes a quote inside quotes
            out.append(c)
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _rfc3339(text: str) -> datetime | None:
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        return None
    value = text.strip().replace("z", "Z").replace("t", "T")
    fraction = match.group(1)
    if fraction is not None and len(fraction) > 6:  # nanoseconds, as Go writes them: datetime keeps micros
        value = value.replace("." + fraction, "." + fraction[:6])
    try:
        when = datetime.fromisoformat(value)
    except ValueError:  # month 13, hour 25...
        return None
    return when.astimezone(UTC)


def _duration(text: str) -> timedelta | None:
    """A Go-style duration ('1h30m', '90s', '1.5h', '250ms')."""
    text = text.strip()
    if not text:
        return None
    pos, seconds = 0, 0.0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if match is None:
            return None
        seconds += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if seconds > 10**9:  # ~31 years more than any timedelta an engine needs; keeps timedelta in range
        return None
    return timedelta(seconds=seconds)

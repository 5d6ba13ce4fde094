"""Safe edge conditions: a tiny expression language compiled once into a tree of closures.

Edge conditions such as ``"context.get('score') >= 80"`` come from workflow definitions, which
may be written by people who must not be able to run code on the server. So the expression is
never handed to ``eval``/``exec``/``compile``: it is parsed with :func:`ast.parse`, every node is
checked against a small grammar, and each node is translated into a plain Python closure. The
closure tree is built once, when the definition is built, so evaluating a condition on the hot
path is just a handful of function calls.

The grammar: literals (numbers, strings, ``True``/``False``/``None`` and list, tuple, set and dict
displays); the names ``context`` and its aliases ``data`` and ``ctx`` (the workflow context's
data; the guides write ``ctx.get('amount') < 1000``);
``context.get(key[, default])``, ``context.<key>`` and ``context[key]`` (a missing key gives
``None``); a bare name such as ``approved`` (short for ``context.get('approved')``);
subscripts and slices of values; comparisons (chained too), ``in``, ``is``, ``and``,
``or``, ``not``, ``a if c else b``; ``+ - * / // % **`` and unary ``-``/``+``; the functions
``len abs min max round int float str bool any all sum sorted``; and the string methods
``lower upper strip startswith endswith``. Everything else is rejected at compile time.
"""

from __future__ import annotations

import ast
import operator
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from litestar_workflows.core.errors import StepExecutionError, WorkflowValidationError

__all__ = ("CompiledCondition", "ConditionEvaluationError", "compile_condition")

MAX_EXPRESSION_LENGTH: Final = 2_000
"""Longer conditions are rejected: they are unreadable, and the limit bounds parse cost."""
MAX_NESTING_DEPTH: Final = 100
"""Bounds the closure tree's depth, so evaluation can never exhaust the interpreter's stack."""
MAX_SEQUENCE_SIZE: Final = 100_000
"""Largest string/list/tuple that ``+`` or ``*`` may build (stops ``'a' * 10**9``)."""
MAX_EXPONENT: Final = 64
MAX_POWER_BASE_BITS: Final = 4_096
MAX_ROUND_DIGITS: Final = 100

_Fn = Callable[[Mapping[str, Any]], Any]
_CONTEXT_NAMES: Final = frozenset({"context", "data", "ctx"})
_SCALARS: Final = (str, int, float, type(None))  # bool is an int


class ConditionEvaluationError(StepExecutionError):
    """An edge condition could not be evaluated (incompatible types, a size limit, ...)."""

    def __init__(self, detail: str = "", step_name: str | None = None, expression: str | None = None) -> None:
        self.expression = expression
        super().__init__(detail, step_name)

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.detail, self.step_name, self.expression))


class _LimitError(Exception):
    """A safety limit was hit while evaluating; reported without an exception-type prefix."""


# --- runtime helpers: the only places where user-chosen values meet Python operators -------------


def _check_repeat(seq: str | list[Any] | tuple[Any, ...], times: int) -> None:
    if times <= 1 or not seq:
        return  # no amplification possible
    if len(seq) * times > MAX_SEQUENCE_SIZE:
        raise _LimitError(f"repetition would build {len(seq) * times} items (limit {MAX_SEQUENCE_SIZE})")
    if isinstance(seq, str):
        return
    # Repeating containers of containers (or of long strings) multiplies the cost of printing
    # or comparing the result far beyond its length, so weigh each item by what it holds.
    weight = 0
    for item in seq:
        if not isinstance(item, _SCALARS):
            raise _LimitError("only sequences of numbers, strings, booleans and None can be repeated")
        weight += len(item) if isinstance(item, str) else 1
    if weight * times > MAX_SEQUENCE_SIZE:
        raise _LimitError(f"repetition would build {weight * times} items (limit {MAX_SEQUENCE_SIZE})")


def _mul(left: Any, right: Any) -> Any:
    if isinstance(left, (str, list, tuple)) and isinstance(right, int):
        _check_repeat(left, right)
    elif isinstance(right, (str, list, tuple)) and isinstance(left, int):
        _check_repeat(right, left)
    return left * right


def _add(left: Any, right: Any) -> Any:
    sequences = isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple))
    if sequences and len(left) + len(right) > MAX_SEQUENCE_SIZE:
        raise _LimitError(f"concatenation would exceed {MAX_SEQUENCE_SIZE} items")
    return left + right


def _mod(left: Any, right: Any) -> Any:
    if isinstance(left, str):  # '%*d' % (10**9, 1) would allocate a gigabyte
        raise _LimitError("string formatting with '%' is not supported")
    return left % right


def _pow(base: Any, exponent: Any) -> Any:
    if isinstance(exponent, int) and exponent > 1:
        if exponent > MAX_EXPONENT:
            raise _LimitError(f"exponent {exponent} is larger than {MAX_EXPONENT}")
        if isinstance(base, int) and base.bit_length() > MAX_POWER_BASE_BITS:
            raise _LimitError(f"base of '**' is larger than {MAX_POWER_BASE_BITS} bits")
    return base**exponent


def _round(number: Any, ndigits: Any = None) -> Any:
    if isinstance(ndigits, int) and abs(ndigits) > MAX_ROUND_DIGITS:  # round(5, -10**9) computes 10**10**9
        raise _LimitError(f"round() to more than {MAX_ROUND_DIGITS} digits")
    return round(number, ndigits)


def _sum(iterable: Any, start: Any = 0) -> Any:
    if not isinstance(start, (int, float)):  # summing lists is quadratic and unbounded
        raise TypeError("sum() can only add numbers")
    return sum(iterable, start)


def _subscript(value: Any, key: Any) -> Any:
    if isinstance(value, Mapping):
        return value.get(key)  # consistent with context[...]: a missing key reads as None
    if isinstance(value, Sequence):
        return value[key]
    raise TypeError(f"a {type(value).__name__} value cannot be subscripted")


def _ordering(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    # A missing key reads as None; "context.get('score') >= 80" must then be false, not an error.
    def compare(left: Any, right: Any) -> Any:
        return False if left is None or right is None else op(left, right)

    return compare


def _in(left: Any, right: Any) -> bool:
    return left in right


def _not_in(left: Any, right: Any) -> bool:
    return left not in right


_BINARY: Final[dict[type[ast.operator], Callable[[Any, Any], Any]]] = {
    ast.Add: _add,
    ast.Sub: operator.sub,
    ast.Mult: _mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: _mod,
    ast.Pow: _pow,
}
_UNARY: Final[dict[type[ast.unaryop], Callable[[Any], Any]]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Not: operator.not_,
}
_COMPARE: Final[dict[type[ast.cmpop], Callable[[Any, Any], Any]]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: _ordering(operator.lt),
    ast.LtE: _ordering(operator.le),
    ast.Gt: _ordering(operator.gt),
    ast.GtE: _ordering(operator.ge),
    ast.In: _in,
    ast.NotIn: _not_in,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
# name -> (implementation, min positional args, max positional args or None for unbounded)
_FUNCTIONS: Final[dict[str, tuple[Callable[..., Any], int, int | None]]] = {
    "len": (len, 1, 1),
    "abs": (abs, 1, 1),
    "min": (min, 1, None),
    "max": (max, 1, None),
    "round": (_round, 1, 2),
    "int": (int, 0, 2),
    "float": (float, 0, 1),
    "str": (str, 0, 1),
    "bool": (bool, 0, 1),
    "any": (any, 1, 1),
    "all": (all, 1, 1),
    "sum": (_sum, 1, 2),
    "sorted": (sorted, 1, 1),
}
# Called unbound (str.lower(value)), so a str subclass cannot substitute its own method.
_STR_METHODS: Final[dict[str, tuple[Callable[..., Any], int, int]]] = {
    "lower": (str.lower, 0, 0),
    "upper": (str.upper, 0, 0),
    "strip": (str.strip, 0, 1),
    "startswith": (str.startswith, 1, 3),
    "endswith": (str.endswith, 1, 3),
}
_OPERATOR_SYMBOLS: Final = {"LShift": "<<", "RShift": ">>", "BitOr": "|", "BitXor": "^", "BitAnd": "&"}
_FORBIDDEN_NODES: Final = {
    "Lambda": "lambda expressions are not allowed",
    "ListComp": "comprehensions are not allowed",
    "SetComp": "comprehensions are not allowed",
    "DictComp": "comprehensions are not allowed",
    "GeneratorExp": "generator expressions are not allowed",
    "NamedExpr": "assignment expressions (:=) are not allowed",
    "JoinedStr": "f-strings are not allowed",
    "Starred": "star unpacking (*) is not allowed",
    "Await": "'await' is not allowed",
    "Yield": "'yield' is not allowed",
    "YieldFrom": "'yield from' is not allowed",
}


def _call(fn: Callable[..., Any], args: tuple[_Fn, ...]) -> _Fn:
    if len(args) == 1:
        (only,) = args
        return lambda data: fn(only(data))
    return lambda data: fn(*[arg(data) for arg in args])


def _constant(value: Any) -> _Fn:
    return lambda _data: value


class _Compiler:
    """Validates an expression tree node by node and translates it into closures."""

    def __init__(self, text: str) -> None:
        self._text = text

    def error(
        self, node: ast.AST, reason: str, line: int | None = None, col_offset: int | None = None
    ) -> WorkflowValidationError:
        line = getattr(node, "lineno", 1) if line is None else line
        offset = getattr(node, "col_offset", 0) if col_offset is None else col_offset
        lines = self._text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        source_line = lines[line - 1] if 0 < line <= len(lines) else ""
        # ast offsets count UTF-8 bytes; report characters.
        column = len(source_line.encode("utf-8", "surrogatepass")[: max(offset, 0)].decode("utf-8", "ignore"))
        return _invalid(self._text, reason, line, column + 1)

    def expr(self, node: ast.AST, depth: int) -> _Fn:  # noqa: C901 - a flat dispatch
        if depth > MAX_NESTING_DEPTH:
            raise self.error(node, f"the expression is nested more than {MAX_NESTING_DEPTH} levels deep")
        depth += 1
        if isinstance(node, ast.Constant):
            if node.value is None or type(node.value) in (bool, int, float, str):
                return _constant(node.value)
            raise self.error(node, f"literals of type {type(node.value).__name__} are not allowed")
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.Attribute):
            return self.attribute(node)
        if isinstance(node, ast.Subscript):
            return self.subscript(node, depth)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        if isinstance(node, ast.Compare):
            return self.compare(node, depth)
        if isinstance(node, ast.BoolOp):
            return self.bool_op(node, depth)
        if isinstance(node, (ast.BinOp, ast.UnaryOp)):
            return self.operation(node, depth)
        if isinstance(node, ast.IfExp):
            test, body, orelse = (self.expr(n, depth) for n in (node.test, node.body, node.orelse))
            return lambda data: body(data) if test(data) else orelse(data)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set, ast.Dict)):
            return self.display(node, depth)
        if isinstance(node, ast.Slice):
            parts = [None if n is None else self.expr(n, depth) for n in (node.lower, node.upper, node.step)]
            return lambda data: slice(*[None if part is None else part(data) for part in parts])
        kind = type(node).__name__
        raise self.error(node, _FORBIDDEN_NODES.get(kind, f"{kind} expressions are not allowed"))

    def name(self, node: ast.Name) -> _Fn:
        if node.id in _CONTEXT_NAMES:
            return lambda data: data
        if node.id in _FUNCTIONS:
            raise self.error(node, f"function '{node.id}' must be called")
        if "__" in node.id:
            raise self.error(
                node, f"name '{node.id}' is not allowed (only 'context', 'data', 'ctx' or a key)"
            )
        # A bare name reads that key of the context data ("approved", "not approved"): the
        # documented shorthand of the reference package. It is a data lookup, never a variable.
        key = node.id
        return lambda data: data.get(key)

    def attribute_error(self, node: ast.Attribute, reason: str) -> WorkflowValidationError:
        # Point at the attribute's name, which ends where the node ends.
        offset = (node.end_col_offset or 0) - len(node.attr.encode("utf-8", "surrogatepass"))
        return self.error(node, reason, node.end_lineno, offset)

    def attribute(self, node: ast.Attribute) -> _Fn:
        attr = node.attr
        if "__" in attr:
            raise self.attribute_error(node, f"attribute '{attr}' is not allowed")
        if isinstance(node.value, ast.Name) and node.value.id in _CONTEXT_NAMES:
            if attr == "get":
                raise self.attribute_error(node, "context.get must be called, as in context.get('key')")
            return lambda data: data.get(attr)
        if attr in _STR_METHODS:
            raise self.attribute_error(node, f"method '{attr}' must be called")
        raise self.attribute_error(node, f"attribute '{attr}' is not allowed (only context.<key> reads data)")

    def subscript(self, node: ast.Subscript, depth: int) -> _Fn:
        key = self.expr(node.slice, depth)
        if isinstance(node.value, ast.Name) and node.value.id in _CONTEXT_NAMES:
            if isinstance(node.slice, ast.Constant):
                constant_key: Any = node.slice.value
                return lambda data: data.get(constant_key)
            return lambda data: data.get(key(data))
        value = self.expr(node.value, depth)
        return lambda data: _subscript(value(data), key(data))

    def arguments(self, node: ast.Call, name: str, low: int, high: int | None, depth: int) -> tuple[_Fn, ...]:
        if node.keywords:
            raise self.error(node.keywords[0], "keyword arguments are not allowed")
        count = len(node.args)
        if count < low or (high is not None and count > high):
            expected = f"{low}" if low == high else f"{low} to {high}" if high else f"at least {low}"
            raise self.error(node, f"{name}() takes {expected} arguments, got {count}")
        return tuple(self.expr(arg, depth) for arg in node.args)

    def call(self, node: ast.Call, depth: int) -> _Fn:
        func = node.func
        if isinstance(func, ast.Name):
            if func.id not in _FUNCTIONS:
                allowed = ", ".join(_FUNCTIONS)
                raise self.error(func, f"function '{func.id}' is not allowed (allowed: {allowed})")
            fn, low, high = _FUNCTIONS[func.id]
            return _call(fn, self.arguments(node, func.id, low, high, depth))
        if not isinstance(func, ast.Attribute):
            self.expr(func, depth)  # report a forbidden callee (a lambda, say) as precisely as possible
            raise self.error(func, "only functions, context.get and string methods can be called")
        if "__" in func.attr:
            raise self.attribute_error(func, f"attribute '{func.attr}' is not allowed")
        if isinstance(func.value, ast.Name) and func.value.id in _CONTEXT_NAMES:
            return self.context_get(node, func, depth)
        return self.string_method(node, func, depth)

    def context_get(self, node: ast.Call, func: ast.Attribute, depth: int) -> _Fn:
        if func.attr != "get":
            raise self.attribute_error(func, f"only .get(...) can be called on '{ast.unparse(func.value)}'")
        args = self.arguments(node, "get", 1, 2, depth)
        if len(args) == 1 and isinstance(node.args[0], ast.Constant):
            constant_key: Any = node.args[0].value
            return lambda data: data.get(constant_key)
        return lambda data: data.get(*[arg(data) for arg in args])

    def string_method(self, node: ast.Call, func: ast.Attribute, depth: int) -> _Fn:
        receiver, name = self.expr(func.value, depth), func.attr
        if name not in _STR_METHODS:
            raise self.attribute_error(
                func, f"method '{name}' is not allowed (allowed: {', '.join(_STR_METHODS)})"
            )
        method, low, high = _STR_METHODS[name]
        args = self.arguments(node, name, low, high, depth)

        def call_method(data: Mapping[str, Any]) -> Any:
            value = receiver(data)
            if not isinstance(value, str):  # never call a method found on an arbitrary object
                raise TypeError(f"{name}() needs a string, got {type(value).__name__}")
            return method(value, *[arg(data) for arg in args])

        return call_method

    def compare(self, node: ast.Compare, depth: int) -> _Fn:
        operands = [self.expr(n, depth) for n in (node.left, *node.comparators)]
        ops = [_COMPARE[type(op)] for op in node.ops]
        if len(ops) == 1:
            left, op, right = operands[0], ops[0], operands[1]
            return lambda data: op(left(data), right(data))
        first, pairs = operands[0], list(zip(ops, operands[1:], strict=True))

        def chain(data: Mapping[str, Any]) -> Any:
            left = first(data)
            for op, operand in pairs:
                right = operand(data)
                if not op(left, right):
                    return False
                left = right
            return True

        return chain

    def bool_op(self, node: ast.BoolOp, depth: int) -> _Fn:
        values = [self.expr(n, depth) for n in node.values]
        stop_on = not isinstance(node.op, ast.And)  # `and` stops on a false value, `or` on a true one

        def short_circuit(data: Mapping[str, Any]) -> Any:
            result = None
            for value in values:
                result = value(data)
                if bool(result) is stop_on:
                    return result
            return result

        return short_circuit

    def operation(self, node: ast.BinOp | ast.UnaryOp, depth: int) -> _Fn:
        if isinstance(node, ast.UnaryOp):
            unary = _UNARY.get(type(node.op))
            if unary is None:
                raise self.error(node, "operator '~' is not allowed")
            operand = self.expr(node.operand, depth)
            return lambda data: unary(operand(data))
        binary = _BINARY.get(type(node.op))
        if binary is None:
            symbol = _OPERATOR_SYMBOLS.get(type(node.op).__name__, "@")
            raise self.error(node, f"operator '{symbol}' is not allowed")
        left, right = self.expr(node.left, depth), self.expr(node.right, depth)
        return lambda data: binary(left(data), right(data))

    def display(self, node: ast.List | ast.Tuple | ast.Set | ast.Dict, depth: int) -> _Fn:
        if isinstance(node, ast.Dict):
            pairs: list[tuple[_Fn, _Fn]] = []
            for key_node, value_node in zip(node.keys, node.values, strict=True):
                if key_node is None:
                    raise self.error(value_node, "dict unpacking (**) is not allowed")
                pairs.append((self.expr(key_node, depth), self.expr(value_node, depth)))
            return lambda data: {key(data): value(data) for key, value in pairs}
        items = [self.expr(n, depth) for n in node.elts]
        build: Callable[[Any], Any] = {ast.List: list, ast.Tuple: tuple, ast.Set: set}[type(node)]
        return lambda data: build(item(data) for item in items)


def _invalid(text: str, reason: str, line: int, column: int) -> WorkflowValidationError:
    shown = text if len(text) <= 200 else text[:200] + "..."
    multiline = "\n" in text or "\r" in text
    where = f"line {line}, column {column}" if multiline else f"column {column}"
    return WorkflowValidationError(f'invalid condition "{shown}" at {where}: {reason}')


class CompiledCondition:
    """A validated condition, ready to evaluate against a workflow context's data.

    Build it with :func:`compile_condition`. Instances compare, hash and pickle by ``source``:
    the closures themselves cannot cross process boundaries, so unpickling recompiles.
    """

    __slots__ = ("_fn", "source")

    def __init__(self, source: str, fn: _Fn) -> None:
        self.source = source
        self._fn = fn

    def evaluate(self, data: Mapping[str, Any]) -> bool:
        """Evaluate against ``data``; a missing key reads as ``None``, ordering against ``None`` is false.

        Raises:
            ConditionEvaluationError: the expression failed on this data (incompatible types,
                division by zero, an index out of range, a size limit...).
        """
        try:
            return bool(self._fn(data))
        except Exception as exc:
            reason = str(exc) if isinstance(exc, _LimitError) else f"{type(exc).__name__}: {exc}"
            detail = f'condition "{self.source}" could not be evaluated: {reason}'
            raise ConditionEvaluationError(detail, expression=self.source) from exc

    def __call__(self, context: Any) -> bool:
        """Evaluate against a ``WorkflowContext`` (its ``.data``) or a plain mapping."""
        # The context object (its .data) is the hot case; a mapping without .data stands for itself.
        data = context if type(context) is dict else getattr(context, "data", context)
        if type(data) is not dict and not isinstance(data, Mapping):
            raise TypeError(
                f"expected a mapping or an object with a .data mapping, got {type(context).__name__}"
            )
        return self.evaluate(data)

    def __repr__(self) -> str:
        return f"CompiledCondition({self.source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CompiledCondition) and other.source == self.source

    def __hash__(self) -> int:
        return hash((CompiledCondition, self.source))

    def __reduce__(self) -> tuple[Any, ...]:
        return (compile_condition, (self.source,))


def compile_condition(expression: str) -> CompiledCondition:
    """Parse and validate ``expression`` once, returning a fast, safe evaluator.

    Raises:
        WorkflowValidationError: for any expression outside the grammar (see the module
            docstring); the message names the expression, the position and what is wrong.
            No other exception escapes, whatever the input.
    """
    if not isinstance(expression, str):
        raise WorkflowValidationError(f"a condition must be a string, got {type(expression).__name__}")
    text = expression.strip()
    if not text:
        raise _invalid(expression, "a condition must not be empty", 1, 1)
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise _invalid(text, f"conditions are limited to {MAX_EXPRESSION_LENGTH} characters", 1, 1)
    try:
        with warnings.catch_warnings(action="ignore"):  # e.g. SyntaxWarning for `x is 1`
            tree = ast.parse(text, filename="<condition>", mode="eval")
        return CompiledCondition(expression, _Compiler(text).expr(tree.body, 0))
    except WorkflowValidationError:
        raise
    except SyntaxError as exc:
        column = exc.offset or (text.find("\0") + 1 if "\0" in text else 1)
        raise _invalid(text, exc.msg or "invalid syntax", exc.lineno or 1, column) from None
    except RecursionError:
        raise _invalid(text, "the expression is nested too deeply", 1, 1) from None
    except Exception as exc:  # null bytes, surrogates, parser memory limits...: never leak them
        position = text.find("\0") + 1 if "\0" in text else 1
        raise _invalid(text, f"cannot be parsed ({type(exc).__name__}: {exc})", 1, position) from None

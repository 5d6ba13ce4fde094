"""Tests for the safe edge-condition compiler: grammar, errors, limits, and fuzzing for escapes."""

from __future__ import annotations

import ast
import os
import pickle
import re
import sys
import threading
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from litestar_workflows.core.conditions import (
    CompiledCondition,
    ConditionEvaluationError,
    compile_condition,
)
from litestar_workflows.core.errors import StepExecutionError, WorkflowValidationError

if TYPE_CHECKING:
    from collections.abc import Iterator

POSITION = re.compile(r"at (line \d+, )?column \d+")

DATA: dict[str, Any] = {
    "score": 85,
    "name": "  Alice ",
    "email": "alice@example.com",
    "items": [3, 1, 2],
    "user": {"role": "admin", "tags": ["a", "b"], "address": {"city": "Oslo"}},
    "amount": 12.5,
    "flag": True,
    "nothing": None,
    "get": "the get key",
}


# --- positive cases -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # literals
        ("True", True),
        ("False", False),
        ("None", False),
        ("1", True),
        ("0", False),
        ("0.0", False),
        ("'x'", True),
        ("''", False),
        ("[]", False),
        ("[1, 2] == [1, 2]", True),
        ("(1, 2) == (1, 2)", True),
        ("{1, 2} == {2, 1}", True),
        ("{'a': 1}['a'] == 1", True),
        ("() == ()", True),
        # context access
        ("context.get('score') >= 80", True),
        ("context.get('score') > 85", False),
        ("context.get('missing', 5) == 5", True),
        ("context.get('missing') is None", True),
        ("context.get(context.get('name').strip().lower() + 'x') is None", True),
        ("context.score == 85", True),
        ("context.missing is None", True),
        ("context['score'] == 85", True),
        ("context['missing'] is None", True),
        ("context['get'] == 'the get key'", True),
        ("data.score == 85 and data.get('flag') and data['amount'] == 12.5", True),
        ("'score' in context", True),
        ("'missing' not in data", True),
        ("len(context) == 9", True),
        ("context", True),
        # nested data, subscripts, slices
        ("context.user['role'] == 'admin'", True),
        ("context.user['address']['city'] == 'Oslo'", True),
        ("context.user['missing'] is None", True),
        ("context.user['tags'][0] == 'a'", True),
        ("context.user['tags'][-1] == 'b'", True),
        ("context.items[1:] == [1, 2]", True),
        ("context.items[::-1] == [2, 1, 3]", True),
        ("context.email[:5] == 'alice'", True),
        ("context.email[-11:] == 'example.com'", True),
        ("'b' in context.user['tags']", True),
        ("(1, 2, 3)[1] == 2", True),
        # comparisons
        ("1 == 1", True),
        ("1 != 2", True),
        ("1 < 2", True),
        ("2 <= 2", True),
        ("3 > 2", True),
        ("2 >= 3", False),
        ("0 < context.score < 100", True),
        ("0 < context.score < 50", False),
        ("1 < 2 < 3 < 4 == 4", True),
        ("1 < 3 > 2", True),
        ("context.nothing is None", True),
        ("context.flag is not None", True),
        ("'lic' in context.name", True),
        ("3 not in context.items", False),
        # None with an ordering operator is false, not an error
        ("context.get('missing') >= 80", False),
        ("context.get('missing') < 80", False),
        ("80 <= context.missing", False),
        ("context.missing > context.missing", False),
        ("None < None", False),
        ("0 < context.missing < 100", False),
        ("not (context.missing >= 80)", True),
        ("context.missing == None", True),
        # boolean logic and ternary
        ("True and False", False),
        ("False or 0 or 'x'", True),
        ("not False", True),
        ("not 1", False),
        ("context.flag and not context.nothing", True),
        ("context.missing and context.missing.lower()", False),
        ("'yes' if context.score > 50 else ''", True),
        ("'yes' if context.score > 90 else ''", False),
        # arithmetic
        ("1 + 2 == 3", True),
        ("5 - 7 == -2", True),
        ("3 * 4 == 12", True),
        ("7 / 2 == 3.5", True),
        ("7 // 2 == 3", True),
        ("-7 // 2 == -4", True),
        ("7 % 3 == 1", True),
        ("2 ** 10 == 1024", True),
        ("2 ** -1 == 0.5", True),
        ("-context.score == -85", True),
        ("+context.amount == 12.5", True),
        ("context.amount * 2 == 25", True),
        ("'ab' + 'cd' == 'abcd'", True),
        ("'ab' * 2 == 'abab'", True),
        ("2 * [0] == [0, 0]", True),
        ("[1] + [2] == [1, 2]", True),
        ("context.score % 2 == 1", True),
        # whitelisted functions
        ("len(context.items) == 3", True),
        ("abs(-3) == 3", True),
        ("min(context.items) == 1", True),
        ("max(3, 9, 4) == 9", True),
        ("round(2.567, 2) == 2.57", True),
        ("round(2.5) == 2", True),
        ("int('42') == 42", True),
        ("int('ff', 16) == 255", True),
        ("int() == 0", True),
        ("float('1.5') == 1.5", True),
        ("str(85) == '85'", True),
        ("bool(context.items)", True),
        ("bool()", False),
        ("any([0, 0, 1])", True),
        ("all(context.items)", True),
        ("sum(context.items) == 6", True),
        ("sum([1, 2], 10) == 13", True),
        ("sorted(context.items) == [1, 2, 3]", True),
        ("sorted(context.user) == ['address', 'role', 'tags']", True),
        # string methods
        ("context.name.strip() == 'Alice'", True),
        ("context.name.strip().lower() == 'alice'", True),
        ("context.name.upper() == '  ALICE '", True),
        ("'xxhixx'.strip('x') == 'hi'", True),
        ("context.email.endswith('.com')", True),
        ("context.email.endswith(('.org', '.com'))", True),
        ("context.email.startswith('alice')", True),
        ("context.email.startswith('example', 6)", True),
        ("context.email.startswith('alice', 0, 3)", False),
        # whitespace and line breaks inside brackets
        ("  context.score == 85  ", True),
        ("(context.score\n == 85)", True),
        ("(context.\n  score == 85)", True),
    ],
)
def test_evaluates(expression: str, expected: bool) -> None:
    condition = compile_condition(expression)
    result = condition.evaluate(DATA)
    assert result is expected


def test_a_bare_name_reads_that_key_of_the_data() -> None:
    # The reference's shorthand: "approved" means context.get('approved'); a missing key is None.
    assert compile_condition("approved").evaluate({"approved": True}) is True
    assert compile_condition("not approved").evaluate({}) is True
    assert compile_condition("not approved").evaluate({"approved": 1}) is False
    assert compile_condition("amount > 100 and approved").evaluate({"amount": 150, "approved": True}) is True
    # Function names keep their meaning, and a bare name never reaches Python's namespaces.
    assert compile_condition("len(items) == 2").evaluate({"items": [1, 2]}) is True
    assert compile_condition("open").evaluate({"open": False}) is False


def test_ctx_is_the_guides_alias_of_context() -> None:
    # The guides' index writes ``ctx.get('amount') < 1000``; ``ctx`` reads the data like ``context``.
    assert compile_condition("ctx.get('amount') < 1000")({"amount": 5}) is True
    assert compile_condition("ctx.get('amount') < 1000")({"amount": 5000}) is False
    assert compile_condition("ctx.get('approved') == True")({"approved": True}) is True
    assert compile_condition("ctx['score'] > 80 and ctx.flag")({"score": 85, "flag": True}) is True
    with pytest.raises(WorkflowValidationError, match="attribute '__class__' is not allowed"):
        compile_condition("ctx.__class__")


def test_result_is_always_a_real_bool() -> None:
    assert compile_condition("context.name").evaluate(DATA) is True
    assert compile_condition("context.items").evaluate({"items": []}) is False
    assert compile_condition("context.get('score')").evaluate(DATA) is True


def test_source_is_the_original_expression() -> None:
    condition = compile_condition("  context.score > 1 ")
    assert condition.source == "  context.score > 1 "
    assert repr(condition) == "CompiledCondition('  context.score > 1 ')"


def test_call_accepts_a_context_object_or_a_mapping() -> None:
    @dataclass
    class FakeContext:
        data: dict[str, Any] = field(default_factory=dict)

    condition = compile_condition("context.get('score') >= 80")
    assert condition(FakeContext({"score": 80})) is True
    assert condition(FakeContext({})) is False
    assert condition({"score": 90}) is True
    with pytest.raises(TypeError, match="mapping"):
        condition(object())


def test_and_or_short_circuit() -> None:
    # The right-hand sides would fail if they were evaluated.
    assert compile_condition("False and 1 / 0").evaluate({}) is False
    assert compile_condition("True or 1 / 0").evaluate({}) is True
    assert compile_condition("1 if True else 1 / 0").evaluate({}) is True
    assert compile_condition("1 > 2 > 1 / 0").evaluate({}) is False


def test_equality_hash_and_pickle() -> None:
    first, second = compile_condition("context.x == 1"), compile_condition("context.x == 1")
    assert first == second
    assert hash(first) == hash(second)
    assert first != compile_condition("context.x == 2")
    assert first != "context.x == 1"
    restored = pickle.loads(pickle.dumps(first))
    assert isinstance(restored, CompiledCondition)
    assert restored == first
    assert restored.evaluate({"x": 1}) is True


# --- compile-time rejections ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("__x", "name '__x' is not allowed"),
        ("context.get('a') > __builtins__", "name '__builtins__' is not allowed"),
        ("len", "function 'len' must be called"),
        ("context.get", "context.get must be called"),
        ("context.__class__", "attribute '__class__' is not allowed"),
        ("''.__class__", "attribute '__class__' is not allowed"),
        ("context.a__b", "attribute 'a__b' is not allowed"),
        ("context.x.lower", "method 'lower' must be called"),
        ("context.x.real", "attribute 'real' is not allowed"),
        ("'a'.format(1)", "method 'format' is not allowed"),
        ("context.keys()", "only .get(...) can be called on 'context'"),
        ("data.items()", "only .get(...) can be called on 'data'"),
        ("context('x')", "function 'context' is not allowed"),
        ("context['x']()", "only functions, context.get and string methods can be called"),
        ("print(1)", "function 'print' is not allowed"),
        ("len(x=[])", "keyword arguments are not allowed"),
        ("sorted([], key=len)", "keyword arguments are not allowed"),
        ("len()", "len() takes 1 arguments, got 0"),
        ("len(1, 2)", "len() takes 1 arguments, got 2"),
        ("context.get()", "get() takes 1 to 2 arguments, got 0"),
        ("context.get(1, 2, 3)", "get() takes 1 to 2 arguments, got 3"),
        ("min()", "min() takes at least 1 arguments"),
        ("'a'.lower(1)", "lower() takes 0 arguments"),
        ("len(*context.items)", "star unpacking (*) is not allowed"),
        ("[*context.items]", "star unpacking (*) is not allowed"),
        ("{**context}", "dict unpacking (**) is not allowed"),
        ("lambda: 1", "lambda expressions are not allowed"),
        ("(lambda: 1)()", "lambda expressions are not allowed"),
        ("[x for x in context.items]", "comprehensions are not allowed"),
        ("{x for x in ()}", "comprehensions are not allowed"),
        ("{x: 1 for x in ()}", "comprehensions are not allowed"),
        ("any(x for x in ())", "generator expressions are not allowed"),
        ("(y := 1)", "assignment expressions (:=) are not allowed"),
        ("f'{context.score}'", "f-strings are not allowed"),
        ("f'plain'", "f-strings are not allowed"),
        ("await context", "'await' is not allowed"),
        ("(yield)", "'yield' is not allowed"),
        ("b'bytes'", "literals of type bytes are not allowed"),
        ("1j", "literals of type complex are not allowed"),
        ("...", "literals of type ellipsis are not allowed"),
        ("1 << 2", "operator '<<' is not allowed"),
        ("1 >> 2", "operator '>>' is not allowed"),
        ("1 | 2", "operator '|' is not allowed"),
        ("1 & 2", "operator '&' is not allowed"),
        ("1 ^ 2", "operator '^' is not allowed"),
        ("context @ context", "operator '@' is not allowed"),
        ("~1", "operator '~' is not allowed"),
        # syntax problems: statements, several expressions, garbage
        ("x = 1", "invalid syntax"),
        ("import os", "invalid syntax"),
        ("1; 2", "invalid syntax"),
        ("context.score >", "invalid syntax"),
        ("(1", "never closed"),
        ("a\x00b", "null bytes"),
        ("(" * 300 + ")" * 300, "too many nested parentheses"),
        ("-" * 500 + "1", "nested more than 100 levels"),
        ("1" + " + 1" * 150, "nested more than 100 levels"),
        ("x" * 2001, "limited to 2000 characters"),
    ],
)
def test_rejects(expression: str, reason: str) -> None:
    with pytest.raises(WorkflowValidationError) as caught:
        compile_condition(expression)
    message = str(caught.value)
    assert reason in message
    assert POSITION.search(message), message
    shown = expression.strip()
    assert f'invalid condition "{shown[:200]}' in message


@pytest.mark.parametrize(
    ("expression", "where"),
    [
        ("context.__class__", "at column 9:"),
        ("len(context.items) > __y", "at column 22:"),
        ("len(x=1)", "at column 5:"),
        ("'é' + __x", "at column 7:"),  # columns count characters, not UTF-8 bytes
        ("(context.score > 1 and\n context.__dict__)", "at line 2, column 10:"),
        ("context.score >= >= 1", "at column 18:"),
        ("context.get(1))", "at column 15:"),
    ],
)
def test_error_position(expression: str, where: str) -> None:
    with pytest.raises(WorkflowValidationError, match=re.escape(where)):
        compile_condition(expression)


@pytest.mark.parametrize("value", [None, 1, b"context", ["context"], object()])
def test_rejects_non_strings(value: Any) -> None:
    with pytest.raises(WorkflowValidationError, match="must be a string"):
        compile_condition(value)


@pytest.mark.parametrize("expression", ["", "   ", "\n\t"])
def test_rejects_empty(expression: str) -> None:
    with pytest.raises(WorkflowValidationError, match="must not be empty") as caught:
        compile_condition(expression)
    assert POSITION.search(str(caught.value))


@pytest.mark.parametrize(
    "expression",
    [
        "(" * 5000,
        "[" * 1000 + "]" * 1000,
        "not " * 499 + "1",
        "-" * 1999 + "1",
        "context" + "[0]" * 600,
        "\ud800",
        "'\ud800'",
        "\ufeffcontext",
        "context.\u0000",
        "\\",
        "'''",
        "1e99999 ** 1e99999",
    ],
)
def test_only_validation_errors_escape(expression: str) -> None:
    with suppress(WorkflowValidationError):
        compile_condition(expression)


def test_error_is_a_workflow_validation_error_with_errors_list() -> None:
    with pytest.raises(WorkflowValidationError) as caught:
        compile_condition("__x")
    assert caught.value.errors == [str(caught.value)]
    assert isinstance(caught.value, ValueError)


# --- evaluation errors and limits ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "data", "reason"),
    [
        ("1 / 0", {}, "ZeroDivisionError"),
        ("1 // 0", {}, "ZeroDivisionError"),
        ("1 % 0", {}, "ZeroDivisionError"),
        ("context.items[5]", {"items": [1]}, "IndexError"),
        ("context.score < 'x'", {"score": 1}, "TypeError"),
        ("context.score + 'x'", {"score": 1}, "TypeError"),
        ("context.missing + 1", {}, "TypeError"),
        ("context.missing['key']", {}, "NoneType value cannot be subscripted"),
        ("context.score[0]", {"score": 1}, "int value cannot be subscripted"),
        ("context.missing.lower()", {}, "lower() needs a string, got NoneType"),
        ("context[[1]]", {}, "unhashable"),
        ("{[1]}", {}, "unhashable"),
        ("min([])", {}, "ValueError"),
        ("int('abc')", {}, "ValueError"),
        ("[1, 'a'] < ['a', 1]", {}, "TypeError"),
        ("'abc'[::0]", {}, "slice step cannot be zero"),
        ("context.get('a') < 'x'", [], "AttributeError"),
        # denial-of-service limits
        ("'a' * 10 ** 9", {}, "repetition would build 1000000000 items"),
        ("10 ** 9 * 'a'", {}, "repetition would build"),
        ("[0] * 100001", {}, "repetition would build"),
        ("(0,) * 10 ** 60", {}, "repetition would build"),
        ("[[0]] * 2", {}, "only sequences of numbers, strings, booleans and None can be repeated"),
        ("['a' * 60000] * 2", {}, "repetition would build 120000 items"),
        ("'a' * 60000 + 'a' * 60000", {}, "concatenation would exceed"),
        ("10 ** 65", {}, "exponent 65 is larger than 64"),
        ("2 ** 10 ** 6", {}, "exponent 1000000 is larger than 64"),
        ("((2 ** 64) ** 64) ** 2", {}, "base of '**' is larger than 4096 bits"),
        ("'%*d' % (10 ** 9, 1)", {}, "string formatting with '%' is not supported"),
        ("round(5, -10 ** 9)", {}, "round() to more than 100 digits"),
        ("sum([[1], [2]], [])", {}, "sum() can only add numbers"),
        ("sum(['a'])", {}, "TypeError"),
        ("str((10 ** 64) ** 64 * (10 ** 64) ** 64)", {}, "ValueError"),
        ("1e300 ** 2.0", {}, "OverflowError"),
    ],
)
def test_evaluation_errors(expression: str, data: Any, reason: str) -> None:
    condition = compile_condition(expression)
    with pytest.raises(ConditionEvaluationError) as caught:
        condition.evaluate(data)
    message = str(caught.value)
    assert reason in message
    assert f'condition "{expression}"' in message
    assert caught.value.expression == expression
    assert caught.value.__cause__ is not None


def test_small_repetitions_are_fine() -> None:
    assert compile_condition("len('ab' * 50000) == 100000").evaluate({}) is True
    assert compile_condition("len([None, True, 1.5, 'x'] * 25000) == 100000").evaluate({}) is True
    assert compile_condition("[[1]] * 1 == [[1]] and [[1]] * 0 == []").evaluate({}) is True
    assert compile_condition("2 ** 64 > 0 and (2 ** 64) ** 64 > 0 and 7 ** 1.5 > 0").evaluate({}) is True


def test_evaluation_error_is_a_step_execution_error_and_pickles() -> None:
    error = ConditionEvaluationError("boom", step_name="route", expression="1 / 0")
    assert isinstance(error, StepExecutionError)
    restored = pickle.loads(pickle.dumps(error))
    assert (restored.detail, restored.step_name, restored.expression) == ("boom", "route", "1 / 0")


# --- security: hostile expressions and hostile data -----------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('touch /tmp/pwned')",
        "().__class__.__bases__[0].__subclasses__()",
        "''.__class__.__mro__[1].__subclasses__()",
        "context.__class__",
        "context.get.__globals__",
        "context.get.__self__",
        "context.__dict__",
        "(lambda: 1)()",
        "[x for x in ()]",
        "open('/etc/passwd')",
        "getattr(context, 'x')",
        "eval('1')",
        "exec('1')",
        "compile('1', '', 'eval')",
        "globals()",
        "vars()",
        "type(context)",
        "__builtins__",
        "breakpoint()",
        "str.__class__",
        "len.__self__",
        "'{0.__class__}'.format(context)",
        "f'{context.__class__}'",
        "context.x.__class__",
        "context['x'].__init__",
        "min.__call__(1)",
        "context.get('x').mro()",
    ],
)
def test_hostile_expressions_are_rejected(expression: str) -> None:
    with pytest.raises(WorkflowValidationError):
        compile_condition(expression)


@dataclass
class _Spy:
    """A hostile data value: records every call of its look-alike string methods."""

    calls: list[str] = field(default_factory=list)

    def lower(self) -> str:
        self.calls.append("lower")
        return "x"

    def startswith(self, prefix: str) -> bool:
        self.calls.append("startswith")
        return True


class _SneakyStr(str):
    """A ``str`` subclass overriding a method: the compiler must use ``str``'s own."""

    __slots__ = ()
    called = False

    def lower(self) -> str:
        _SneakyStr.called = True
        return "sneaky"


def test_string_methods_are_never_looked_up_on_data_values() -> None:
    spy = _Spy()
    with pytest.raises(ConditionEvaluationError, match="lower\\(\\) needs a string, got _Spy"):
        compile_condition("context.value.lower() == 'x'").evaluate({"value": spy})
    with pytest.raises(ConditionEvaluationError, match="startswith\\(\\) needs a string"):
        compile_condition("context.value.startswith('a')").evaluate({"value": spy})
    assert spy.calls == []
    assert compile_condition("context.value.lower() == 'abc'").evaluate({"value": _SneakyStr("ABC")}) is True
    assert _SneakyStr.called is False


# --- fuzzing ------------------------------------------------------------------------------------------
# An audit hook proves that nothing executes: while a fuzzed input is compiled and evaluated on this
# thread, every audit event is recorded. The only one allowed is the single "compile" event of
# compile_condition's own ast.parse (filename "<condition>", source = the stripped input); anything
# else (exec, import, open, os.system, subprocess.Popen, object.__getattr__ on restricted attributes,
# sys._getframe, a second compile...) fails the test. Audit hooks cannot be removed, so the hook is
# installed once and does nothing while no test is watching.


@dataclass
class _AuditLog:
    thread: int | None = None
    events: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)


_AUDIT = _AuditLog()
_AUDIT_LOCK = threading.Lock()
_AUDIT_INSTALLED: list[bool] = []


def _audit_hook(event: str, args: tuple[Any, ...]) -> None:
    if _AUDIT.thread is not None and threading.get_ident() == _AUDIT.thread:
        _AUDIT.events.append((event, args))


@contextmanager
def _watching() -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
    with _AUDIT_LOCK:
        if not _AUDIT_INSTALLED:
            sys.addaudithook(_audit_hook)
            _AUDIT_INSTALLED.append(True)
    events: list[tuple[str, tuple[Any, ...]]] = []
    _AUDIT.events, _AUDIT.thread = events, threading.get_ident()
    try:
        yield events
    finally:
        _AUDIT.thread = None


def _compile_and_evaluate_watched(expression: str, data: dict[str, Any]) -> None:
    """Compile then evaluate; assert only the allowed outcomes and audit events happen."""
    condition: CompiledCondition | None = None
    with _watching() as compile_events, suppress(WorkflowValidationError):
        condition = compile_condition(expression)
    parses = [args for event, args in compile_events if event == "compile"]
    assert [event for event, _ in compile_events if event != "compile"] == []
    assert all(args[1] == "<condition>" for args in parses), parses
    assert len(parses) <= 1
    if condition is None:
        return
    assert parses[0][0] in (expression.strip(), expression.strip().encode())
    with _watching() as evaluate_events:
        try:
            result = condition.evaluate(data)
        except ConditionEvaluationError:
            pass
        else:
            assert type(result) is bool
    assert evaluate_events == []


def test_audit_hook_sees_forbidden_events() -> None:
    # Guards the fuzz tests against a hook that silently records nothing.
    with _watching() as events:
        with open(os.devnull) as handle:
            handle.close()
        compile("1", "<elsewhere>", "eval")
    names = [event for event, _ in events]
    assert "open" in names
    assert "compile" in names
    assert "exec" not in names
    with _watching() as events:
        exec(compile("1", "<elsewhere>", "eval"))
    assert "exec" in [event for event, _ in events]


_FUZZ = settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-100, 100) | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=6,
)
_KEYS = st.sampled_from(["score", "name", "items", "x", "get", "lower", "a"])
_DATA = st.dictionaries(_KEYS, _JSON, max_size=4)

_TOKENS = [
    "context", "data", ".", "get", "(", ")", "[", "]", "{", "}", ",", ":", "'score'", "'a'", '"b"',
    "80", "0", "1.5", "1e999", "0x1f", "10**9", ">=", "<", "==", "!=", " and ", " or ", "not ", " in ",
    " is ", "None", "True", "lambda", "x", " for ", " if ", " else ", "__class__", "__import__",
    "__globals__", "+", "-", "*", "**", "/", "//", "%", "<<", "~", "len", "sorted", "lower", "strip",
    "open", "getattr", "\\", "\n", " ", "\t", "\x00", "f'", "{x}", "#", "@", "yield", "await", ":=",
    "...", "j", "'", '"', "b'", "\ud800", "é",
]  # fmt: skip


@_FUZZ
@given(text=st.text(max_size=80), data=_DATA)
def test_fuzz_random_text(text: str, data: dict[str, Any]) -> None:
    _compile_and_evaluate_watched(text, data)


@_FUZZ
@given(
    tokens=st.lists(st.sampled_from(_TOKENS), max_size=25),
    separator=st.sampled_from(["", " "]),
    data=_DATA,
)
def test_fuzz_token_soup(tokens: list[str], separator: str, data: dict[str, Any]) -> None:
    _compile_and_evaluate_watched(separator.join(tokens), data)


def _load(name: str) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Load())


_CONTEXT = st.sampled_from(["context", "data"]).map(lambda name: ast.Name(id=name, ctx=ast.Load()))
_NAMES = st.sampled_from(
    ["context", "data", "len", "sorted", "str", "x", "__import__", "open", "eval", "getattr", "type"]
)
_FUNCTION_NAMES = st.sampled_from(
    ["len", "abs", "min", "max", "round", "int", "float", "str", "bool", "any", "all", "sum", "sorted"]
)
_METHODS = st.sampled_from(["lower", "upper", "strip", "startswith", "endswith"])
_ATTRS = st.sampled_from(
    ["get", "lower", "upper", "strip", "startswith", "score", "items", "__class__", "__globals__"]
    + ["__subclasses__", "__dict__", "system", "format", "mro", "keys", "real"]
)
_SAFE_CONSTANTS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1000, 1000),
    st.sampled_from([0.0, -1.5, 1e300, float("inf")]),
    st.text(max_size=5),
).map(lambda value: ast.Constant(value=value))
_CONSTANTS = _SAFE_CONSTANTS | st.sampled_from([b"x", ..., 1j]).map(lambda value: ast.Constant(value=value))
_BIN_OPS = st.sampled_from([ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow])
_BAD_BIN_OPS = st.sampled_from([ast.LShift, ast.RShift, ast.BitOr, ast.BitAnd, ast.BitXor, ast.MatMult])
_CMP_OPS = st.sampled_from(
    [ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot]
)


def _no_args() -> ast.arguments:
    return ast.arguments(
        posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]
    )


def _comprehension(iterable: ast.expr) -> list[ast.comprehension]:
    return [ast.comprehension(target=ast.Name(id="x", ctx=ast.Store()), iter=iterable, ifs=[], is_async=0)]


def _extend(children: st.SearchStrategy[ast.expr], hostile: bool) -> st.SearchStrategy[ast.expr]:
    optional = st.none() | children
    args = st.lists(children, max_size=3)
    allowed = st.one_of(
        st.builds(ast.Attribute, value=_CONTEXT, attr=_ATTRS, ctx=st.just(ast.Load())),
        st.builds(ast.Call, func=_FUNCTION_NAMES.map(_load), args=args, keywords=st.just([])),
        st.builds(
            ast.Call,
            func=st.builds(ast.Attribute, value=children, attr=_METHODS, ctx=st.just(ast.Load())),
            args=args,
            keywords=st.just([]),
        ),
        st.builds(
            ast.Call,
            func=_CONTEXT.map(lambda name: ast.Attribute(value=name, attr="get", ctx=ast.Load())),
            args=st.lists(children, min_size=1, max_size=2),
            keywords=st.just([]),
        ),
        st.builds(ast.BinOp, left=children, op=_BIN_OPS.map(lambda op: op()), right=children),
        st.builds(
            ast.UnaryOp,
            op=st.sampled_from([ast.USub, ast.UAdd, ast.Not]).map(lambda op: op()),
            operand=children,
        ),
        st.lists(st.tuples(_CMP_OPS.map(lambda op: op()), children), min_size=1, max_size=3).flatmap(
            lambda pairs: children.map(
                lambda left: ast.Compare(
                    left=left, ops=[op for op, _ in pairs], comparators=[c for _, c in pairs]
                )
            )
        ),
        st.builds(
            ast.BoolOp,
            op=st.sampled_from([ast.And(), ast.Or()]),
            values=st.lists(children, min_size=2, max_size=3),
        ),
        st.builds(ast.IfExp, test=children, body=children, orelse=children),
        st.builds(
            ast.Subscript,
            value=children,
            slice=children | st.builds(ast.Slice, lower=optional, upper=optional, step=optional),
            ctx=st.just(ast.Load()),
        ),
        st.builds(ast.List, elts=st.lists(children, max_size=3), ctx=st.just(ast.Load())),
        st.builds(ast.Tuple, elts=st.lists(children, max_size=3), ctx=st.just(ast.Load())),
        st.builds(ast.Set, elts=st.lists(children, min_size=1, max_size=3)),
        st.lists(st.tuples(children, children), max_size=3).map(
            lambda pairs: ast.Dict(keys=[k for k, _ in pairs], values=[v for _, v in pairs])
        ),
    )
    if not hostile:
        return allowed
    forbidden = st.one_of(
        st.builds(ast.Attribute, value=children, attr=_ATTRS, ctx=st.just(ast.Load())),
        st.builds(ast.Call, func=children | _NAMES.map(_load), args=args, keywords=st.just([])),
        st.builds(ast.BinOp, left=children, op=_BAD_BIN_OPS.map(lambda op: op()), right=children),
        st.builds(ast.UnaryOp, op=st.just(ast.Invert()), operand=children),
        st.builds(
            ast.Call,
            func=children | _NAMES.map(_load),
            args=st.lists(
                children | st.builds(ast.Starred, value=children, ctx=st.just(ast.Load())), max_size=2
            ),
            keywords=st.lists(
                st.builds(ast.keyword, arg=st.sampled_from(["key", "x"]), value=children), max_size=1
            ),
        ),
        st.builds(ast.Lambda, args=st.builds(_no_args), body=children),
        st.builds(ast.ListComp, elt=children, generators=children.map(_comprehension)),
        st.builds(ast.GeneratorExp, elt=children, generators=children.map(_comprehension)),
        st.builds(ast.NamedExpr, target=st.just(ast.Name(id="x", ctx=ast.Store())), value=children),
        # a Name inside the f-string: ast.unparse cannot always render arbitrary expressions there
        _NAMES.map(
            lambda name: ast.JoinedStr(
                values=[
                    ast.Constant(value="a"),
                    ast.FormattedValue(value=_load(name), conversion=-1, format_spec=None),
                ]
            )
        ),
        st.builds(ast.Await, value=children),
    )
    return st.one_of(allowed, allowed, allowed, forbidden)


def _syntax_trees(hostile: bool) -> st.SearchStrategy[ast.expr]:
    leaves = _SAFE_CONSTANTS | _CONTEXT | _CONTEXT
    if hostile:
        leaves |= _CONSTANTS | _NAMES.map(_load)
    return st.recursive(leaves, lambda children: _extend(children, hostile), max_leaves=12)


@_FUZZ
@given(tree=_syntax_trees(hostile=True), data=_DATA)
def test_fuzz_random_syntax_trees(tree: ast.expr, data: dict[str, Any]) -> None:
    # Mostly allowed constructs with forbidden ones mixed in, anywhere in the tree.
    _compile_and_evaluate_watched(ast.unparse(tree), data)


@_FUZZ
@given(tree=_syntax_trees(hostile=False), data=_DATA)
def test_fuzz_allowed_syntax_trees(tree: ast.expr, data: dict[str, Any]) -> None:
    # Only allowed node kinds (arity may still be wrong), so most compile and get evaluated.
    _compile_and_evaluate_watched(ast.unparse(tree), data)


@settings(max_examples=150, derandomize=True, deadline=None, database=None)
@given(
    tree=st.recursive(
        _SAFE_CONSTANTS,
        lambda children: st.one_of(
            st.builds(ast.BinOp, left=children, op=_BIN_OPS.map(lambda op: op()), right=children),
            st.builds(
                ast.Compare,
                left=children,
                ops=_CMP_OPS.map(lambda op: [op()]),
                comparators=children.map(lambda c: [c]),
            ),
            st.builds(ast.List, elts=st.lists(children, max_size=3), ctx=st.just(ast.Load())),
            st.builds(
                ast.Call,
                func=st.sampled_from(["len", "str", "abs", "sorted", "sum"]).map(_load),
                args=children.map(lambda c: [c]),
                keywords=st.just([]),
            ),
        ),
        max_leaves=10,
    )
)
def test_fuzz_allowed_trees_always_compile(tree: ast.expr) -> None:
    # Trees built only from allowed constructs must compile (and then evaluate or fail cleanly).
    source = ast.unparse(tree)
    condition = compile_condition(source)
    with suppress(ConditionEvaluationError):
        assert type(condition.evaluate({})) is bool

"""Checked descriptions: every function an engine path runs, parsed once and verified.

Neuron updates, their helpers, plasticity rule events, short-term and intrinsic
plasticity are plain Python functions. Before any path runs them they are parsed with
:mod:`ast` into a :class:`CheckedFunction`, and both the compiled CPU loop and the torch
path are generated from that one checked form (never from the live function object), so
what one path accepts the other runs the same way.

What a description may contain:

* its arguments, local names it assigns, the primitives of :mod:`synaptica.primitives`
  (``exp``, ``where``, ``minimum``, ``maximum``, ``spike``, ``detach``) and ``abs``;
* calls to those primitives and to the owner's declared ``helpers`` only;
* module-level numeric constants (``int``/``float``/``bool``), which are inlined;
* assignments, augmented assignments, arithmetic, comparisons and ``return``.

It may not contain decorators (``@staticmethod`` in a class body is accepted and
stripped), closures, nested functions or lambdas, attribute access, indexing, branches
(``if``: use ``where``), loops, ``and``/``or``, or default or variadic arguments, and it
must return as many values as its role requires (a neuron update: one per state
variable plus the spike). Every violation raises :class:`DescriptionError` naming the
owner, the function, the line and the offending name.

Each function is emitted under a unique mangled name (its name plus a hash of module and
qualified name), so two user models that both call their update ``update`` never clash
in the generated module.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import numbers
import textwrap
import types
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from synaptica.primitives import PRIMITIVE_NAMES

#: Builtins a description may call besides the primitives (same meaning on every path).
ALLOWED_BUILTINS = ("abs",)

_ALLOWED_NODES = (
    ast.Module, ast.FunctionDef, ast.arguments, ast.arg, ast.Assign, ast.AugAssign, ast.Return,
    ast.Expr, ast.Pass, ast.Name, ast.Load, ast.Store, ast.Constant, ast.Tuple, ast.BinOp,
    ast.UnaryOp, ast.Compare, ast.Call, ast.keyword,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.USub, ast.UAdd,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.BitAnd, ast.BitOr, ast.Invert,
)
_REFUSED = {
    ast.If: "a branch ('if'); use where(condition, a, b)",
    ast.IfExp: "a conditional expression ('a if c else b'); use where(c, a, b)",
    ast.BoolOp: "'and'/'or'; combine comparisons with where() or & and |",
    ast.For: "a loop", ast.While: "a loop", ast.Attribute: "attribute access",
    ast.Subscript: "indexing", ast.Lambda: "a lambda", ast.FunctionDef: "a nested function",
    ast.ClassDef: "a class", ast.Import: "an import", ast.ImportFrom: "an import",
    ast.Global: "'global'", ast.Nonlocal: "'nonlocal'", ast.ListComp: "a comprehension",
    ast.GeneratorExp: "a generator", ast.Starred: "star-unpacking", ast.With: "'with'",
    ast.Try: "'try'", ast.Raise: "'raise'", ast.List: "a list", ast.Dict: "a dict",
}


class DescriptionError(ValueError):
    """A model or rule function that the engine cannot run identically on every path."""


@dataclass(frozen=True)
class CheckedFunction:
    """One verified function: its mangled name, arguments, return arity and source."""

    owner: str
    name: str                      # the function's own name (for messages)
    mangled: str                   # unique name in generated code
    arguments: tuple[str, ...]
    returns: int                   # number of values returned
    source: str                    # rewritten source: mangled names, constants inlined
    helpers: tuple["CheckedFunction", ...]  # every helper it may call, checked

    def all_functions(self) -> list["CheckedFunction"]:
        """Helpers first (each once), then this function: the order to emit them in."""
        out: list[CheckedFunction] = []
        for h in self.helpers:
            if h.mangled not in {f.mangled for f in out}:
                out.append(h)
        return [*out, self]

    def typed_source(self, cast: str) -> str:
        """The source with every numeric literal wrapped in ``cast(...)``, the float type of
        the generated CPU loop (so a float32 network computes in float32)."""
        tree = ast.parse(self.source)

        class Wrap(ast.NodeTransformer):
            def visit_Constant(self, node):
                if isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
                    return ast.Call(ast.Name(cast, ast.Load()), [node], [])
                return node

        return ast.unparse(ast.fix_missing_locations(Wrap().visit(tree)))

    def build(self, primitives: Mapping[str, Callable]) -> Callable:
        """This function as Python, its primitives resolved from ``primitives`` (NumPy or
        torch tables): the torch path runs exactly the checked source."""
        namespace: dict = {"__builtins__": {"abs": abs}, **primitives}
        for fn in self.all_functions():
            exec(compile(fn.source, f"<synaptica {fn.owner}.{fn.name}>", "exec"), namespace)
        return namespace[self.mangled]


def mangled_name(fn: types.FunctionType) -> str:
    """``name_<hash of module and qualified name>``: readable, unique, stable across runs."""
    key = f"{fn.__module__}.{fn.__qualname__}"
    return f"{fn.__name__}_{hashlib.sha1(key.encode()).hexdigest()[:10]}"


def check_function(fn: Callable, owner: str, helpers: Sequence[Callable] = (),
                   returns: int | None = None) -> CheckedFunction:
    """Parse and check ``fn`` (see module doc); ``returns`` is the required arity.

    Results are cached per (function, helpers, owner, arity): checking is done once.
    """
    return _check(_unwrap(fn, owner), owner, tuple(_unwrap(h, owner) for h in helpers), returns)


@functools.lru_cache(maxsize=None)
def _check(fn: types.FunctionType, owner: str, helpers: tuple, returns: int | None) -> CheckedFunction:
    checked_helpers = _check_helpers(owner, helpers)
    return _checked(fn, owner, {h.__name__: h for h in helpers}, checked_helpers, returns)


def _check_helpers(owner: str, helpers: tuple) -> tuple[CheckedFunction, ...]:
    """Helpers may call one another (not recursively): check them in dependency order."""
    by_name = {h.__name__: h for h in helpers}
    done: dict[str, CheckedFunction] = {}
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            raise DescriptionError(f"{owner}: helper '{name}' calls itself (recursion is not allowed)")
        visiting.add(name)
        tree = _parse(by_name[name], owner)
        for called in _called_names(tree):
            if called in by_name and called != name:
                visit(called)
        done[name] = _checked(by_name[name], owner, by_name, tuple(done.values()), None, tree)
        visiting.discard(name)

    for name in by_name:
        visit(name)
    return tuple(done.values())


def _unwrap(fn, owner: str) -> types.FunctionType:
    if isinstance(fn, (staticmethod, classmethod)):
        fn = fn.__func__
    if not isinstance(fn, types.FunctionType):
        raise DescriptionError(f"{owner}: {fn!r} is not a plain Python function")
    if fn.__name__ == "<lambda>":
        raise DescriptionError(f"{owner}: a lambda cannot be a model function; define it with def")
    return fn


def _parse(fn: types.FunctionType, owner: str) -> ast.FunctionDef:
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as error:
        raise DescriptionError(f"{owner}.{fn.__name__}: its source cannot be read ({error}); "
                               f"define it in a file") from None
    tree = ast.parse(source).body[0]
    if not isinstance(tree, ast.FunctionDef):
        raise DescriptionError(f"{owner}.{fn.__name__}: expected a 'def' function")
    ast.increment_lineno(tree, fn.__code__.co_firstlineno - 1)
    return tree


def _called_names(tree: ast.FunctionDef) -> set[str]:
    return {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def _checked(fn: types.FunctionType, owner: str, helper_functions: Mapping[str, types.FunctionType],
             checked_helpers: tuple, returns: int | None, tree: ast.FunctionDef | None = None) -> CheckedFunction:
    tree = tree or _parse(fn, owner)
    where_ = f"{owner}.{fn.__name__}"

    def fail(node, message: str):
        line = getattr(node, "lineno", fn.__code__.co_firstlineno)
        raise DescriptionError(f"{where_} (line {line} of {fn.__code__.co_filename}): {message}")

    if fn.__closure__:
        fail(tree, f"closes over {list(fn.__code__.co_freevars)}; a description may read only its "
                   f"arguments, primitives, declared helpers and numeric module constants")
    for decorator in tree.decorator_list:
        if not (isinstance(decorator, ast.Name) and decorator.id == "staticmethod"):
            fail(decorator, f"decorator '{ast.unparse(decorator)}' is not allowed; the engine compiles the "
                            f"function itself")
    tree.decorator_list = []
    args = tree.args
    if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs or args.defaults:
        fail(tree, "arguments must be plain names without defaults (no *args, **kwargs, keyword-only)")
    arguments = tuple(a.arg for a in args.args)

    # docstring: dropped from the generated code
    if tree.body and isinstance(tree.body[0], ast.Expr) and isinstance(tree.body[0].value, ast.Constant) \
            and isinstance(tree.body[0].value.value, str):
        tree.body = tree.body[1:] or [ast.Pass()]
    for node in ast.walk(ast.Module(body=tree.body, type_ignores=[])):
        if isinstance(node, ast.Call) and not isinstance(node.func, ast.Name):
            fail(node, f"calls '{ast.unparse(node.func)}'; only primitives and declared helpers may be called")
        if type(node) in _REFUSED:
            shown = f" '{ast.unparse(node)}'" if isinstance(node, (ast.Attribute, ast.Subscript)) else ""
            fail(node, f"contains {_REFUSED[type(node)]}{shown}, which not every engine path can run")
        if not isinstance(node, _ALLOWED_NODES):
            fail(node, f"contains '{type(node).__name__}', which is not allowed in a description")
        if isinstance(node, ast.Compare) and len(node.ops) > 1:
            fail(node, "contains a chained comparison; compare two values at a time")
        if isinstance(node, ast.Expr) and not isinstance(node.value, ast.Constant):
            fail(node, "an expression statement has no effect; assign its value")
    local = set(arguments) | {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    helper_mangled = {h.name: h.mangled for h in checked_helpers}

    class Rewrite(ast.NodeTransformer):
        def visit_Call(self, node):
            if not isinstance(node.func, ast.Name):
                fail(node, f"calls '{ast.unparse(node.func)}'; only primitives and declared helpers may be called")
            name = node.func.id
            if name in local:
                fail(node, f"calls its local name '{name}'")
            if name in helper_functions:
                if fn.__globals__.get(name, helper_functions[name]) is not helper_functions[name]:
                    fail(node, f"'{name}' here is not the declared helper of that name")
                if name not in helper_mangled:
                    fail(node, f"calls helper '{name}' before it is checked (helpers may not call each other in a cycle)")
                node.func = ast.Name(helper_mangled[name], ast.Load())
            elif name not in PRIMITIVE_NAMES and name not in ALLOWED_BUILTINS:
                fail(node, f"calls '{name}', which is neither a primitive {list(PRIMITIVE_NAMES)} nor a "
                           f"declared helper; list it in the owner's 'helpers' or inline it")
            node.args = [self.visit(a) for a in node.args]
            node.keywords = [self.visit(k) for k in node.keywords]
            return node

        def visit_Name(self, node):
            if not isinstance(node.ctx, ast.Load) or node.id in local:
                return node
            if node.id in PRIMITIVE_NAMES or node.id in ALLOWED_BUILTINS or node.id in helper_functions:
                fail(node, f"uses '{node.id}' as a value; primitives and helpers may only be called")
            if node.id not in fn.__globals__:
                fail(node, f"reads unknown name '{node.id}'")
            value = fn.__globals__[node.id]
            if isinstance(value, numbers.Real):
                return ast.copy_location(ast.Constant(value if isinstance(value, (bool, int)) else float(value)), node)
            fail(node, f"reads module-level name '{node.id}' ({type(value).__name__}); only numeric constants "
                       f"(inlined) may be read from outside a description")

    tree = Rewrite().visit(tree)
    arities = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Return):
            if node.value is None:
                fail(node, "returns nothing")
            if isinstance(node.value, ast.Tuple):
                arities.add(len(node.value.elts))
            elif isinstance(node.value, ast.Call) and node.value.func.id in helper_mangled.values():
                called = next(h for h in checked_helpers if h.mangled == node.value.func.id)
                arities.add(called.returns)
            else:
                arities.add(1)
    if not arities:
        fail(tree, "has no return statement")
    if len(arities) > 1:
        fail(tree, f"returns different numbers of values ({sorted(arities)}) in different places")
    arity = arities.pop()
    if not isinstance(tree.body[-1], ast.Return):
        fail(tree.body[-1], "must end with a return statement")
    if returns is not None and arity != returns:
        fail(tree, f"returns {arity} value(s); its role needs {returns}")
    mangled = mangled_name(fn)
    tree.name = mangled
    source = ast.unparse(ast.fix_missing_locations(tree))
    return CheckedFunction(owner, fn.__name__, mangled, arguments, arity, source, checked_helpers)

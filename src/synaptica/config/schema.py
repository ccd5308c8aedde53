"""Typed parameter declarations (:class:`Field`) and the error users see (:class:`ConfigError`).

A schema is a plain mapping ``name -> Field``. A field knows its type, default, help
text and constraints, and turns a raw TOML value into a checked Python value with
:meth:`Field.coerce`. Supported types: ``bool``, ``int``, ``float``, ``str`` and
``list[...]`` of one of those (e.g. ``list[float]``).

Type rules: an integer is accepted where a float is expected (and converted to float);
a boolean is never accepted as a number; NaN and +-inf are rejected for floats (no
parameter of a run means anything at infinity; a bound is written as a finite maximum).
"""
from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass
from typing import Any, Sequence, get_args, get_origin

__all__ = ["MAX_SEED", "ConfigError", "Field", "InvalidValue", "format_value", "toml_type_name"]

# Largest seed of a built-in experiment: the seeds numpy's legacy API and most tools accept
# (torch's manual_seed overflows above 2**63 - 1, which a larger bound would let through).
MAX_SEED = 2**32 - 1

_SCALAR_TYPES = (bool, int, float, str)
_TYPE_PHRASES = {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string"}


class ConfigError(ValueError):
    """A configuration problem meant for the user.

    The message names where the bad value came from (a file name, ``--set``) and the
    key, e.g. ``cuba.toml: key 'tau_m': must be > 0, got -5.0``. When several problems
    were found at once, ``errors`` holds one message per problem and ``str(error)``
    joins them with newlines.
    """

    def __init__(self, errors: str | Sequence[str]):
        self.errors: list[str] = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("\n".join(self.errors))


class InvalidValue(ValueError):
    """Raised by :meth:`Field.coerce`; the message lacks origin and key (callers add them)."""


def toml_type_name(value: Any) -> str:
    """The TOML name of a parsed value's type (``integer``, ``table``, ...)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "table"
    return type(value).__name__


def format_value(value: Any, limit: int = 60) -> str:
    """Render a value the way it would be written in TOML (shortened to ``limit`` chars)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, list):
        text = "[" + ", ".join(format_value(v, limit) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k} = {format_value(v, limit)}" for k, v in value.items()) + "}"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _format_bound(bound: float) -> str:
    short = f"{bound:g}"
    return short if float(short) == bound else repr(bound)


def _element_type(type_: Any) -> tuple[type, bool]:
    """Split a field type into (scalar type, is_list); raise TypeError if unsupported."""
    if type_ in _SCALAR_TYPES:
        return type_, False
    if get_origin(type_) is list:
        args = get_args(type_)
        if len(args) == 1 and args[0] in _SCALAR_TYPES:
            return args[0], True
    raise TypeError(f"unsupported Field type {type_!r}: use bool, int, float, str or list[<one of those>]")


def _coerce_scalar(type_: type, value: Any) -> Any:
    if type_ is bool and isinstance(value, bool):
        return value
    if type_ is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if type_ is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            result = float(value)
        except OverflowError:
            raise InvalidValue(f"number too large, got {format_value(value)}") from None
        if not math.isfinite(result):
            raise InvalidValue(f"expected a finite number, got {format_value(value)}")
        return result
    if type_ is str and isinstance(value, str):
        return value
    raise InvalidValue(f"expected {_TYPE_PHRASES[type_]}, got {toml_type_name(value)} {format_value(value)}")


@dataclass(frozen=True)
class Field:
    """One typed experiment parameter.

    type:              bool, int, float, str, or list[...] of one of those.
    default:           value used when neither the file nor ``--set`` gives one.
    help:              one-line description (units included, e.g. "membrane time constant (ms)").
    minimum, maximum:  inclusive bounds for numbers (applied to each element of a list).
    exclusive_minimum: make ``minimum`` strict (``> minimum``), e.g. for time constants.
    choices:           allowed values (applied to each element of a list).
    exclusive_maximum: make ``maximum`` strict (``< maximum``).
    max_length:        most elements a list may hold (list fields only).

    The default is validated when the field is created, so a broken schema fails at
    import time rather than when a user runs it.
    """

    type: Any
    default: Any
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: Sequence[Any] | None = None
    exclusive_maximum: bool = False
    max_length: int | None = None

    def __post_init__(self) -> None:
        element, is_list = _element_type(self.type)
        if (self.minimum is not None or self.maximum is not None) and element not in (int, float):
            raise TypeError(f"minimum/maximum need a numeric Field type, not {self.type_name}")
        for bound in (self.minimum, self.maximum):
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float))
                                      or not math.isfinite(bound)):
                raise ValueError(f"Field bounds must be finite numbers, got {bound!r}")
        if self.max_length is not None and (not is_list or self.max_length < 0):
            raise TypeError(f"max_length needs a list Field type and a length >= 0, not {self.type_name}")
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))
        try:
            object.__setattr__(self, "default", self.coerce(self.default))
        except InvalidValue as exc:
            raise ValueError(f"invalid default {self.default!r} for Field({self.type_name}): {exc}") from None

    @property
    def type_name(self) -> str:
        """Readable type, e.g. ``float`` or ``list[float]``."""
        element, is_list = _element_type(self.type)
        return f"list[{element.__name__}]" if is_list else element.__name__

    def range_text(self) -> str:
        """The numeric constraint in words, e.g. ``> 0`` or ``in [0, 1]`` ('' if none)."""
        lo, hi = self.minimum, self.maximum
        if lo is not None and hi is not None:
            left = "(" if self.exclusive_minimum else "["
            right = ")" if self.exclusive_maximum else "]"
            return f"in {left}{_format_bound(lo)}, {_format_bound(hi)}{right}"
        if lo is not None:
            return f"{'>' if self.exclusive_minimum else '>='} {_format_bound(lo)}"
        if hi is not None:
            return f"{'<' if self.exclusive_maximum else '<='} {_format_bound(hi)}"
        return ""

    def coerce(self, value: Any) -> Any:
        """Return ``value`` checked and converted to this field's type; raise InvalidValue."""
        element, is_list = _element_type(self.type)
        if not is_list:
            return self._check_constraints(_coerce_scalar(element, value))
        if not isinstance(value, list):
            raise InvalidValue(
                f"expected an array of {element.__name__}, got {toml_type_name(value)} {format_value(value)}"
            )
        if self.max_length is not None and len(value) > self.max_length:
            raise InvalidValue(f"at most {self.max_length} elements, got {len(value)}")
        result = []
        for index, item in enumerate(value):
            try:
                result.append(self._check_constraints(_coerce_scalar(element, item)))
            except InvalidValue as exc:
                raise InvalidValue(f"element {index}: {exc}") from None
        return result

    def _check_constraints(self, value: Any) -> Any:
        if self.minimum is not None or self.maximum is not None:
            ok = True
            if self.minimum is not None:
                ok = value > self.minimum if self.exclusive_minimum else value >= self.minimum
            if ok and self.maximum is not None:
                ok = value < self.maximum if self.exclusive_maximum else value <= self.maximum
            if not ok:
                raise InvalidValue(f"must be {self.range_text()}, got {format_value(value)}")
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(format_value(c) for c in self.choices)
            hint = ""
            if isinstance(value, str):
                close = difflib.get_close_matches(value, [c for c in self.choices if isinstance(c, str)], n=1)
                hint = f"; did you mean {format_value(close[0])}?" if close else ""
            raise InvalidValue(f"must be one of {allowed}, got {format_value(value)}{hint}")
        return value

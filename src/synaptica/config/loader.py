"""Read experiment TOML files, apply ``--set`` overrides and validate against a schema.

File layout (flat; there is no ``[params]`` table)::

    # my_run.toml
    experiment = "cuba"      # which built-in experiment this file parametrises
    tau_m = 20.0             # every other top-level key is a parameter of that experiment
    n_exc = 3200

Precedence, lowest first: the schema defaults, the file, then ``--set KEY=VALUE``
overrides in command-line order. ``VALUE`` is read as a TOML value (``3``, ``2.5``,
``true``, ``"text"``, ``[1, 2]``); anything that is not valid TOML is taken as a bare
string, so ``--set mode=fast`` works without quotes.
"""
from __future__ import annotations

import difflib
import os
import re
import stat
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from .schema import ConfigError, Field, InvalidValue, format_value

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = [
    "EXPERIMENT_KEY",
    "SET_ORIGIN",
    "Check",
    "MAX_FILE_BYTES",
    "check_regular_file",
    "experiment_of",
    "load_config",
    "mentioned_keys",
    "parse_overrides",
    "parse_value",
    "read_toml",
    "resolve",
]

EXPERIMENT_KEY = "experiment"
SET_ORIGIN = "--set"
Check = Callable[[dict], "str | None"]


MAX_FILE_BYTES = 2**20  # a parameter file is a few hundred bytes; anything over 1 MiB is not one


def check_regular_file(path: Path, *, origin: str, max_bytes: int = MAX_FILE_BYTES) -> None:
    """Raise ConfigError unless ``path`` is a regular file of at most ``max_bytes``.

    Uses ``os.stat`` (following symlinks) before anything opens the file: opening a FIFO
    blocks until a writer appears, and a device such as /dev/zero never ends.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ConfigError(f"{origin}: no such file") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        raise ConfigError(f"{origin}: cannot read file: {getattr(exc, 'strerror', None) or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{origin}: is a directory, expected a .toml file")
    if not stat.S_ISREG(info.st_mode):
        kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(info.st_mode) else "a device" if stat.S_ISCHR(info.st_mode)
                or stat.S_ISBLK(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode) else "not a regular file")
        raise ConfigError(f"{origin}: is {kind}, expected a regular .toml file")
    if info.st_size > max_bytes:
        raise ConfigError(f"{origin}: {info.st_size} bytes is too large for a configuration file "
                          f"(at most {max_bytes} bytes)")


def _loads(text: str, origin: str) -> dict[str, Any]:
    """``tomllib.loads`` with every failure as ConfigError (nesting deeper than Python's
    recursion limit included)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: {_describe_decode_error(exc, text)}") from None
    except RecursionError:
        raise ConfigError(f"{origin}: invalid TOML: arrays or tables nested too deeply") from None


def read_toml(source: str | os.PathLike | Mapping[str, Any], *, origin: str) -> dict[str, Any]:
    """Parse a TOML source into a dict.

    source: a path (``pathlib.Path`` or other ``os.PathLike``) to read, a ``str`` holding
            the TOML document itself, or an already parsed mapping (copied).
    origin: how to name the source in error messages, e.g. ``"cuba.toml"``.
    Raises ConfigError for missing, unreadable, non-regular (FIFO, device, directory) and
    oversized (> 1 MiB) files and for malformed or too deeply nested TOML (with line and column).
    """
    if isinstance(source, Mapping):
        return dict(source)
    if isinstance(source, os.PathLike):
        path = Path(source)
        check_regular_file(path, origin=origin)
        try:
            with open(path, "rb") as handle:
                raw = handle.read(MAX_FILE_BYTES + 1)  # the file may have grown since the stat
        except OSError as exc:
            raise ConfigError(f"{origin}: cannot read file: {exc.strerror or exc}") from None
        if len(raw) > MAX_FILE_BYTES:
            raise ConfigError(f"{origin}: too large for a configuration file (at most {MAX_FILE_BYTES} bytes)")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{origin}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    elif isinstance(source, str):
        text = source
    else:
        raise TypeError(f"TOML source must be a path, a str or a mapping, not {type(source).__name__}")
    return _loads(text, origin)


def _describe_decode_error(exc: Exception, text: str) -> str:
    """``line L, column C: invalid TOML: <reason>: <offending line>`` from a decode error."""
    message = str(getattr(exc, "msg", None) or exc)
    lineno, colno = getattr(exc, "lineno", None), getattr(exc, "colno", None)
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)", message)
    if match:
        message = message[: match.start()] + message[match.end():]
        lineno, colno = lineno or int(match.group(1)), colno or int(match.group(2))
    elif re.search(r"\s*\(at end of document\)", message):
        message = re.sub(r"\s*\(at end of document\)", "", message)
        lineno, colno = text.count("\n") + 1, len(text.rsplit("\n", 1)[-1]) + 1
    if lineno is None:
        return f"invalid TOML: {message}"
    lines = text.splitlines()
    snippet = lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""
    where = f"line {lineno}, column {colno}: invalid TOML: {message}"
    return f"{where}: {snippet}" if snippet else where


def parse_value(raw: str, *, key: str = "") -> Any:
    """Read an override value as a TOML value, falling back to the bare (stripped) string.

    Raises ConfigError (naming ``key``) for arrays or tables nested deeper than Python's
    recursion limit, which the TOML parser cannot read.
    """
    text = raw.strip()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    except RecursionError:
        where = f"key '{key}': " if key else ""
        raise ConfigError(f"{SET_ORIGIN}: {where}value nested too deeply to read") from None


def parse_overrides(overrides: Iterable[str]) -> dict[str, Any]:
    """Turn ``["tau_m=10", "mode=fast"]`` into ``{"tau_m": 10, "mode": "fast"}`` (last one wins)."""
    result: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not key:
            raise ConfigError(f"{SET_ORIGIN}: expected KEY=VALUE with a parameter name before '=', got {item!r}")
        if not sep:
            raise ConfigError(f"{SET_ORIGIN}: key '{key}': expected KEY=VALUE, got {item!r} (no '=')")
        result[key] = parse_value(raw, key=key)
    return result


def experiment_of(data: Mapping[str, Any], *, origin: str) -> str | None:
    """The ``experiment = "..."`` entry of a parsed file (None if absent); must be a string."""
    name = data.get(EXPERIMENT_KEY)
    if name is None:
        return None
    if not isinstance(name, str) or not name:
        raise ConfigError(
            f"{origin}: key '{EXPERIMENT_KEY}': expected the name of an experiment as a string, "
            f"got {format_value(name)}"
        )
    return name


def _unknown_key(origin: str, key: str, value: Any, schema: Mapping[str, Field], experiment: str | None) -> str:
    whose = f" of experiment '{experiment}'" if experiment else ""
    message = f"{origin}: key '{key}': unknown parameter{whose}"
    if key == "params" and isinstance(value, dict):
        return message + "; parameters go at the top level of the file, not under a [params] table"
    close = difflib.get_close_matches(key, list(schema), n=1, cutoff=0.6)
    if close:
        return message + f"; did you mean '{close[0]}'?"
    known = ", ".join(sorted(schema)) or "(none)"
    return message + f"; known parameters: {known}"


def mentioned_keys(message: str, schema: Mapping[str, Any]) -> list[str]:
    """The schema keys a message names as whole words, in schema order."""
    return [k for k in schema if re.search(rf"(?<![\w.]){re.escape(k)}(?![\w])", message)]


def resolve(
    schema: Mapping[str, Field],
    checks: Sequence[Check] = (),
    layers: Sequence[tuple[str, Mapping[str, Any]]] = (),
    *,
    experiment: str | None = None,
) -> dict[str, Any]:
    """Merge ``(origin, values)`` layers over the schema defaults and validate.

    Every layer is checked on its own (unknown keys, types, ranges) and all problems are
    reported together; cross-field ``checks`` run only when every value is valid. A check
    gets the resolved dict and returns an error message or None; the error is prefixed
    with the origins of the keys its message mentions, and with those keys unless the
    message already starts with ``key '...'``.
    """
    if EXPERIMENT_KEY in schema:
        raise ValueError(f"'{EXPERIMENT_KEY}' is reserved and cannot be a parameter name")
    values = {name: field.default for name, field in schema.items()}
    source_of: dict[str, str] = {}
    errors: list[str] = []
    for origin, data in layers:
        for key, raw in data.items():
            field = schema.get(key)
            if field is None:
                errors.append(_unknown_key(origin, key, raw, schema, experiment))
                continue
            try:
                values[key] = field.coerce(raw)
                source_of[key] = origin
            except InvalidValue as exc:
                errors.append(f"{origin}: key '{key}': {exc}")
    if errors:
        raise ConfigError(errors)

    primary = layers[0][0] if layers else (f"experiment '{experiment}'" if experiment else "config")
    for check in checks:
        message = check(dict(values))
        if not message:
            continue
        keys = mentioned_keys(message, schema)
        origins = [primary] + sorted({source_of[k] for k in keys if k in source_of} - {primary})
        label = ""
        if keys and not re.match(r"keys? '", message):  # the check may name its key itself
            label = ("key " if len(keys) == 1 else "keys ") + ", ".join(f"'{k}'" for k in keys) + ": "
        errors.append(f"{', '.join(origins)}: {label}{message}")
    if errors:
        raise ConfigError(errors)
    return values


def load_config(
    source: str | os.PathLike | Mapping[str, Any],
    schema: Mapping[str, Field],
    checks: Sequence[Check] = (),
    overrides: Iterable[str] = (),
    *,
    origin: str,
    experiment: str | None = None,
) -> dict[str, Any]:
    """Read, override and validate one experiment configuration; return the resolved params.

    source:     a ``Path`` to a TOML file, a ``str`` holding TOML text, or a parsed dict.
    schema:     ``name -> Field``.
    checks:     cross-field checks, each ``f(params) -> error message | None``.
    overrides:  ``"KEY=VALUE"`` strings from ``--set``, applied after the file.
    origin:     the name used for ``source`` in error messages, e.g. ``"cuba.toml"``.
    experiment: the experiment being configured; if the file says
                ``experiment = "..."`` it must match. Also used in messages.

    Returns every schema key with its value (defaults filled in, ints widened to float
    where a float is declared). The ``experiment`` key is not part of the result.
    Raises ConfigError on any problem.
    """
    data = read_toml(source, origin=origin)
    named = experiment_of(data, origin=origin)
    if named is not None and experiment is not None and named != experiment:
        raise ConfigError(
            f"{origin}: key '{EXPERIMENT_KEY}': this file is for experiment '{named}', not '{experiment}'"
        )
    data.pop(EXPERIMENT_KEY, None)
    overridden = parse_overrides(overrides)
    if EXPERIMENT_KEY in overridden:
        raise ConfigError(
            f"{SET_ORIGIN}: key '{EXPERIMENT_KEY}': cannot be overridden; "
            "choose the experiment with the NAME or FILE argument"
        )
    layers = [(origin, data)]
    if overridden:
        layers.append((SET_ORIGIN, overridden))
    return resolve(schema, checks, layers, experiment=experiment or named)

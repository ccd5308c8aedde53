"""Output folders that never cost the user data: claim, check, write atomically, release.

A command (``run``, ``analyze``) writes only into a folder it creates or into one that
holds nothing but an earlier output of the same command. Such a folder is recognised by
its marker file ``.synaptica-output.json``::

    {"format": "synaptica.output", "kind": "run", "state": "complete", "target": "<folder name>",
     "version": "0.1.0", "created": "2026-01-02T03:04:05.678+00:00", "files": ["config.toml", ...]}

and must hold exactly the files its marker lists. Anything else -- files or subfolders
of the user's, a marker of the other command, a folder merely *named* ``<out>.partial``
or ``<out>.previous`` -- is refused with a :class:`~synaptica.config.ConfigError`, never
deleted.

Claiming (:func:`claim_out_dir`, a context manager) happens before any work, so an
impossible path fails fast: the path must name a folder (not ``''``, ``.``, ``..`` or
``/``), not be a symbolic link (see below), its name must leave room for the suffixes
added beside it, its parent must be a folder that can be created and written. The claim
then takes an exclusive :func:`fcntl.flock` on ``<out>.lock`` (holding the owner's pid)
for as long as the command runs, checkpoints ``<out>.checkpoint*.npz`` included; a
second process gets ``another synaptica process (pid N) is writing to <out>``. With
the lock held, marked leftovers of a crashed writer (``<out>.partial``,
``<out>.previous``) are removed. Releasing removes the lock file and any parent folder
the claim created that is still empty.

Writing (:func:`write_folder`) fills ``<out>.partial`` (marked ``"state": "partial"``
from its first moment), marks it complete with its file list, then renames the old
output to ``<out>.previous``, ``<out>.partial`` to ``<out>`` and deletes the previous
one: a folder under its final name is always a complete output.

Symbolic links: ``--out`` naming a link is refused. Replacing a folder atomically
renames it, which would replace the link itself; following the link instead would put
the lock, the checkpoint and the temporary folders beside the link but the output
elsewhere, so two runs (one through the link, one through the real path) would not see
each other's lock. Links among the parent folders are followed as usual.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

from ..config import ConfigError

__all__ = ["MARKER", "OutputClaim", "check_out_dir", "claim_out_dir", "write_folder"]

MARKER = ".synaptica-output.json"
MARKER_FORMAT = "synaptica.output"
TEMPORARY_SUFFIXES = (".partial", ".previous")
# longest name the commands put beside an output folder: checkpoints of experiment phases
# are "<out>.checkpoint.npz.<phase>.npz"; 32 bytes leave room for a phase name of 12
SUFFIX_ROOM = 32
_CLAIMS: dict[Path, "OutputClaim"] = {}  # claims held by this process, by absolute folder path


def now_utc() -> str:
    """The current time, ISO 8601 in UTC with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _version() -> str:
    from .. import __version__

    return __version__


def _sibling(out_dir: Path, suffix: str) -> Path:
    return out_dir.with_name(out_dir.name + suffix)


def _read_marker(folder: Path) -> dict | None:
    """The folder's marker if it is a readable synaptica marker, else None."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and marker.get("format") == MARKER_FORMAT else None


def _write_marker(folder: Path, kind: str, target: str, state: str, files: Sequence[str] = ()) -> None:
    marker = {"format": MARKER_FORMAT, "kind": kind, "state": state, "target": target, "version": _version(),
              "created": now_utc(), "files": sorted(files)}
    (folder / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")


def _shown(names: Sequence[str]) -> str:
    return ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")


def check_out_dir(out_dir: Path, kind: str = "run") -> None:
    """Refuse (ConfigError) an output folder that ``kind`` may not replace.

    Allowed: absent, empty, or a complete ``kind`` output holding exactly the files its
    marker lists. Reads the folder only; claims nothing (see :func:`claim_out_dir`).
    """
    out_dir = Path(out_dir)
    if out_dir.is_symlink():
        raise ConfigError(f"--out: '{out_dir}' is a symbolic link (to '{os.readlink(out_dir)}'); give the folder "
                          "itself: replacing an output renames it, which would replace the link")
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise ConfigError(f"--out: '{out_dir}' exists and is not a folder")
    try:
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in out_dir.iterdir())
    except OSError as error:
        raise ConfigError(f"--out: cannot list '{out_dir}' ({error.strerror or error})") from None
    if not names:
        return
    marker = _read_marker(out_dir)
    if marker is None:
        raise ConfigError(f"--out: '{out_dir}' holds files synaptica did not write ({_shown(names)}): it has no "
                          f"{MARKER}; refusing to overwrite it, choose a new folder")
    if marker.get("kind") != kind or marker.get("state") != "complete":
        raise ConfigError(f"--out: '{out_dir}' holds a synaptica '{marker.get('kind')}' output "
                          f"({marker.get('state')}), not a complete '{kind}' output; refusing to overwrite it")
    listed = set(marker.get("files") or ()) | {MARKER}
    foreign = [name for name in names if name not in listed]
    if foreign:
        raise ConfigError(f"--out: '{out_dir}' holds an earlier synaptica {kind} plus files it did not write "
                          f"({_shown(foreign)}); refusing to overwrite it, move those files first")


class OutputClaim:
    """This process's exclusive right to write one output folder (see the module docstring).

    Use as a context manager; ``started`` is the ISO 8601 UTC time of the claim and
    ``command`` the command line recorded in the output's provenance.
    """

    def __init__(self, out_dir: Path, kind: str, command: Sequence[str] | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.kind = kind
        self.command = list(sys.argv if command is None else command)
        self.started = ""
        self._fd: int | None = None
        self._created: list[Path] = []

    @property
    def lock_path(self) -> Path:
        return _sibling(self.out_dir, ".lock")

    def __enter__(self) -> "OutputClaim":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Check the path, create the parent, lock, clean marked leftovers, check the folder."""
        key = Path(os.path.abspath(self.out_dir))
        if key in _CLAIMS:
            raise ConfigError(f"--out: '{self.out_dir}' is already being written by this process")
        _check_path(self.out_dir)
        self._make_parents()
        try:
            self._lock()
            for suffix in TEMPORARY_SUFFIXES:
                _clear_leftover(self.out_dir, _sibling(self.out_dir, suffix))
            check_out_dir(self.out_dir, self.kind)
        except BaseException:
            self.release()
            raise
        self.started = now_utc()
        _CLAIMS[key] = self

    def release(self) -> None:
        """Unlock and remove the lock file; remove parent folders the claim made if still empty."""
        _CLAIMS.pop(Path(os.path.abspath(self.out_dir)), None)
        if self._fd is not None:
            # unlink while still holding the lock: a process that opened the old file then
            # sees, once it gets the lock, that the name no longer points at it, and retries
            self.lock_path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None
        for folder in reversed(self._created):
            try:
                folder.rmdir()
            except OSError:  # not empty (an output was written) or already gone
                break
        self._created = []

    def _make_parents(self) -> None:
        missing = []
        parent = self.out_dir.parent
        while not parent.exists() and parent != parent.parent:
            missing.append(parent)
            parent = parent.parent
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            except OSError as error:
                raise ConfigError(f"--out: cannot create the folder '{folder}' ({error.strerror or error})") from None
            self._created.append(folder)

    def _lock(self) -> None:
        path = self.lock_path
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as error:
                raise ConfigError(f"--out: cannot write in '{self.out_dir.parent}' "
                                  f"({error.strerror or error})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                os.close(fd)
                if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise ConfigError(f"--out: cannot lock '{path}' ({error.strerror or error})") from None
                raise ConfigError(f"another synaptica process (pid {_owner(path)}) is writing to "
                                  f"{self.out_dir}") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the previous owner removed the file between our open and lock: retry
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd


def _owner(lock_path: Path) -> str:
    try:
        text = lock_path.read_text().strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"


def _name_max(folder: Path) -> int:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return os.pathconf(folder if folder.is_dir() else folder.parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _check_path(out_dir: Path) -> None:
    """Fail fast on paths no output can be written to (before any work is done)."""
    text = str(out_dir)
    if text in ("", ".", "..", "/") or out_dir.name in ("", ".", ".."):
        raise ConfigError(f"--out: '{text}' does not name a folder to write (empty, '.', '..' or '/'); "
                          "give a new folder such as runs/my-run")
    room = _name_max(out_dir.parent) - SUFFIX_ROOM
    if len(os.fsencode(out_dir.name)) > room:
        raise ConfigError(f"--out: the folder name is {len(os.fsencode(out_dir.name))} bytes long; this file "
                          f"system allows {room + SUFFIX_ROOM}, and synaptica needs {SUFFIX_ROOM} of them for "
                          "the files it writes beside the folder (.lock, .partial, .checkpoint.npz)")
    ancestor = out_dir.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        raise ConfigError(f"--out: '{out_dir}' cannot be created: '{ancestor}' is a file, not a folder")
    if out_dir.is_symlink():
        check_out_dir(out_dir)  # refuses it, saying why


def _clear_leftover(out_dir: Path, temporary: Path) -> None:
    """Remove ``<out>.partial`` / ``<out>.previous`` left by a crashed writer (our marker,
    naming ``out_dir``); refuse when something else sits under that name."""
    if not (temporary.exists() or temporary.is_symlink()):
        return
    marker = None if temporary.is_symlink() or not temporary.is_dir() else _read_marker(temporary)
    if marker is None or marker.get("target") != out_dir.name:
        raise ConfigError(f"--out: '{temporary}' exists and was not made by synaptica (no {MARKER}); synaptica "
                          f"needs that name to write '{out_dir}' safely: move or rename it")
    shutil.rmtree(temporary)


def write_folder(out_dir: Path, write_files: Callable[[Path], None], *, kind: str = "run",
                 extra_files: Callable[["OutputClaim", Path], None] | None = None) -> Path:
    """Call ``write_files(partial)`` on ``<out_dir>.partial``, then make it ``out_dir``.

    Under this process's claim of ``out_dir`` (taken here for the duration of the write
    when the caller holds none). ``extra_files(claim, partial)`` runs after
    ``write_files`` (e.g. the provenance). The earlier output in ``out_dir`` (see
    :func:`check_out_dir`) is replaced only once the new one is complete; on any error
    the partial folder is removed and the error re-raised.
    """
    claim = _CLAIMS.get(Path(os.path.abspath(out_dir)))
    if claim is None:
        with OutputClaim(out_dir, kind) as claim:
            return _write(claim, write_files, extra_files)
    if claim.kind != kind:
        raise ConfigError(f"--out: '{out_dir}' is claimed for a '{claim.kind}' output, not '{kind}'")
    return _write(claim, write_files, extra_files)


def _write(claim: OutputClaim, write_files: Callable[[Path], None],
           extra_files: Callable[[OutputClaim, Path], None] | None) -> Path:
    out_dir = claim.out_dir
    partial, previous = _sibling(out_dir, ".partial"), _sibling(out_dir, ".previous")
    for temporary in (partial, previous):
        _clear_leftover(out_dir, temporary)
    partial.mkdir()
    try:
        _write_marker(partial, claim.kind, out_dir.name, "partial")
        write_files(partial)
        if extra_files is not None:
            extra_files(claim, partial)
        files = [p.name + ("/" if p.is_dir() else "") for p in partial.iterdir() if p.name != MARKER]
        _write_marker(partial, claim.kind, out_dir.name, "complete", files)
        check_out_dir(out_dir, claim.kind)  # nothing of the user's appeared while we were working
        if out_dir.exists() and any(out_dir.iterdir()):
            out_dir.rename(previous)
            try:
                partial.rename(out_dir)
            except BaseException:
                previous.rename(out_dir)
                raise
            shutil.rmtree(previous)
        else:
            os.replace(partial, out_dir)  # onto an empty folder, or a new name
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return out_dir


def claim_out_dir(out_dir: Path, kind: str, command: Sequence[str] | None = None) -> OutputClaim:
    """An :class:`OutputClaim` of ``out_dir`` for a ``kind`` output (``"run"`` or
    ``"analyze"``); entering it checks, creates the parent and locks, raising
    :class:`~synaptica.config.ConfigError` with an ``--out:`` message on any problem."""
    return OutputClaim(out_dir, kind, command)

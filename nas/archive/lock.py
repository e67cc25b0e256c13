"""One writer per run directory: an exclusive `fcntl` lock held for the life of a command.

Two processes appending to one run (a second `--resume` while the first still runs, or two new
searches with the same `--out`) would interleave records: every architecture written twice.
A command that writes a run directory takes `<run>/.lock` first; a second writer stops at once
with one line naming the holder's pid. The kernel drops a lock when its process dies (kill -9
included), so a stale lock file is simply taken over: no pid-liveness guessing.

Locks are re-entrant within a process (a search that trains its supernet into `<run>/supernet`
and later reopens it) and released by `release_all()` at the end of a command (`nas.cli.main`),
or when the process exits.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from nas_common.errors import UserError

LOCK_NAME = ".lock"
_held: dict[Path, int] = {}  # resolved run directory -> open file descriptor holding its lock


def acquire(run: str | os.PathLike) -> None:
    """Lock the run directory `run` (which must exist) for this process, or raise `UserError`."""
    path = Path(run).resolve()
    if path in _held:
        return
    try:
        fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise UserError(f"cannot write the run directory {run}: {err.strerror}; check its permissions") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise UserError(f"{run} is being written by another nas process (pid {holder}); wait for it to end or "
                        "stop it, then retry") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _held[path] = fd


def holds(run: str | os.PathLike) -> bool:
    return Path(run).resolve() in _held


def release(run: str | os.PathLike) -> None:
    fd = _held.pop(Path(run).resolve(), None)
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def release_all() -> None:
    for path in list(_held):
        release(path)

"""Atomic writes for run-state files.

A state file (config, strategy state, summary, checkpoint) is either the old version or the new one,
never half of each: we write a temp file in the same directory (so `os.replace` is a rename on one
filesystem, which POSIX makes atomic), flush and fsync it, then replace the target. A crash leaves
at worst a stray `.<name>.*.tmp` file, never a torn state file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, IO


def _write_temp(path: Path, write: Callable[[IO[bytes]], None]) -> str:
    """A synced temporary file beside `path` holding what `write` wrote; removed again on failure
    (a full disk included), so nothing is left behind and `path` is untouched."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp


def _unlink_quietly(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


def _replace_via_temp(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    path = Path(path)
    tmp = _write_temp(path, write)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    _fsync_dir(path.parent)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    # The rename itself lives in the directory entry; fsync the directory so it survives power loss.
    # Not every platform lets a directory be opened (Windows); the data is already safe there.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """`write(file)` into `path` atomically (any format: `np.savez`, `torch.save`, ...)."""
    _replace_via_temp(path, write)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    _replace_via_temp(path, lambda f: f.write(data))


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as indented, key-sorted JSON (diff-friendly) to `path` atomically."""
    # Serialise first: a value that is not JSON-able fails before any file is touched.
    text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n"  # strict JSON: no NaN/Infinity
    write_text_atomic(path, text)


CHECKSUM_SUFFIX = ".sha256"


def save_torch_atomic(obj: Any, path: str | os.PathLike) -> None:
    """`torch.save(obj)` to `path` atomically (torch imported here so the archive stays torch-free),
    with its SHA-256 beside it (`<path>.sha256`, as `sha256sum` writes it): a truncated or
    bit-flipped file is then refused by `verify_checksum` instead of loading wrong weights, which a
    flipped bit inside a tensor would do without any error."""
    import hashlib
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    data = buffer.getvalue()
    path = Path(path)
    sidecar = Path(str(path) + CHECKSUM_SUFFIX)
    # Both files are written in full before either replaces its old version: a full disk or a crash
    # while writing leaves the old pair, which still match each other.
    tmp = _write_temp(path, lambda f: f.write(data))
    try:
        tmp_sum = _write_temp(sidecar, lambda f: f.write(f"{hashlib.sha256(data).hexdigest()}  {path.name}\n".encode()))
    except BaseException:
        _unlink_quietly(tmp)
        raise
    os.replace(tmp, path)
    os.replace(tmp_sum, sidecar)
    _fsync_dir(path.parent)


def verify_checksum(path: str | os.PathLike, what: str, remedy: str) -> None:
    """Raise `UserError` when `path` does not match the checksum saved beside it (files saved
    before checksums existed have none and pass)."""
    import hashlib

    from nas_common.errors import UserError

    path = Path(path)
    sidecar = Path(str(path) + CHECKSUM_SUFFIX)
    try:
        expected = sidecar.read_text().split()[0]
    except (FileNotFoundError, IndexError):
        return
    except OSError as err:
        raise UserError(f"cannot read {sidecar}: {err.strerror}; {remedy}") from None
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise UserError(f"{what} {path} is damaged: its SHA-256 differs from the one saved with it "
                        f"({sidecar.name}; truncated or changed on disk); {remedy}")


def load_torch(path: str | os.PathLike, what: str, remedy: str, map_location: Any = "cpu") -> Any:
    """`torch.load(path, weights_only=True)`, every failure one `UserError` line naming the file.

    A missing, truncated or foreign file (a pickle that would run code included: weights_only
    refuses it) all mean the same to a user, and torch's own advice for the last one (retry with
    weights_only=False) must never be passed on."""
    import warnings

    import torch

    from nas_common.errors import UserError

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} {path} is missing; {remedy}")
    verify_checksum(path, what, remedy)
    try:
        with warnings.catch_warnings():  # torch's notes on foreign pickles would add lines to the one-line error
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for a damaged or foreign file
        raise UserError(f"{what} {path} is corrupt or not a weights file ({type(err).__name__}); {remedy}") from None


def check_output_file(path: str | Path, overwrite: bool, flag: str = "--out") -> Path:
    """`path` is a file this command may write (checked before any work): not a directory, in a
    writable directory, and not an existing file unless `overwrite`."""
    from nas_common.errors import UserError

    path = Path(path)
    if path.is_dir():
        raise UserError(f"{flag} {path} is a directory; give a file name, e.g. {path / 'best.pt'}")
    if path.exists() and not overwrite:
        raise UserError(f"{flag} {path} already exists; add --overwrite to replace it, or choose another name")
    parent = next((p for p in path.parents if p.exists()), Path("."))
    if not parent.is_dir():
        raise UserError(f"{flag} {path}: {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {path}: {parent} is not writable; choose another place")
    return path

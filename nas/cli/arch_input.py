"""Reading an architecture given on the command line, in every form the platform itself prints or writes.

- JSON `{"space": ..., "choices": [...]}`, inline or in a file;
- what `nas export` writes beside the weights (`best.arch.json`: the same plus `hash`, checked
  against the choices, and `describe`), or a run record (its `"arch"` entry);
- the short form the tables print, `space:digits` (one digit per choice) or `space:[12, 0, ...]`;
- for spaces that have one, the space's own notation (NB201's `|nor_conv_3x3~0|+|...|`).

Whatever the input, a malformed one is an `InvalidArchitecture` / `UserError`: one line, never a
traceback (deeply nested JSON and undecodable files included).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from nas_common.errors import InvalidArchitecture, UserError
from search_spaces.arch import Arch
from search_spaces.protocol import SearchSpace, StringForm

# Keys `nas export` writes beside "space" and "choices" (`nas.workflows.export.export_model`).
_EXPORT_KEYS = {"hash", "describe", "space_options"}
_SHORT = re.compile(r"^([A-Za-z0-9_.:-]+):(\d+|\[[\d,\s]*\])$")  # a space may be a module:Class reference
_MAX_FILE_BYTES = 10_000_000


def read_arch(text: str, space: SearchSpace, flag: str = "--arch") -> Arch:
    """The architecture `text` names (see the module doc), checked against `space`."""
    source, where = _source(text, flag)
    stripped = source.strip()
    short = _SHORT.match(stripped)
    if short:
        name, digits = short.groups()
        choices = json.loads(digits) if digits.startswith("[") else [int(d) for d in digits]
        return space.parse({"space": name, "choices": choices})
    if stripped.startswith("{"):
        return space.parse(arch_dict(decode_json(stripped, where), where))
    if isinstance(space, StringForm) and stripped.startswith("|"):
        return space.validate(space.from_string(stripped))
    if stripped.startswith("|"):
        raise InvalidArchitecture(f"{where} is an NB201 cell string (space nb201), but the space here is "
                                  f"{space.name!r}; give a {space.name} architecture")
    forms = 'JSON {"space": ..., "choices": [...]}, SPACE:DIGITS'
    if isinstance(space, StringForm):
        forms += f", or a {space.name} string"
    raise InvalidArchitecture(f"{where} is not an architecture; give {forms} (inline or in a file)")


def space_named_by(text: str, flag: str = "--arch") -> str:
    """The space an architecture input names (an NB201 string names `nb201`)."""
    source, where = _source(text, flag)
    stripped = source.strip()
    short = _SHORT.match(stripped)
    if short:
        return short.group(1)
    if stripped.startswith("|"):
        return "nb201"
    obj = arch_dict(decode_json(stripped, where), where) if stripped.startswith("{") else None
    name = obj.get("space") if isinstance(obj, dict) else None
    if not isinstance(name, str):
        raise InvalidArchitecture(f'{where} names no space; give {{"space": ..., "choices": [...]}} or SPACE:DIGITS')
    return name


def space_options_carried_by(text: str, flag: str = "--arch") -> dict[str, Any]:
    """The space options an exported architecture file carries (`nas export` writes the ones that
    differ from the space's defaults); {} for every other form of architecture."""
    source, where = _source(text, flag)
    if not source.strip().startswith("{"):
        return {}
    obj = decode_json(source.strip(), where)
    carried = obj.get("space_options") if isinstance(obj, dict) else None
    if carried is None:
        return {}
    if not isinstance(carried, dict):
        raise InvalidArchitecture(f"{where}: \"space_options\" must be a mapping of option names to values")
    return carried


def arch_dict(obj: Any, where: str) -> Any:
    """`{"space", "choices"}` out of a record (`"arch"` entry) or an exported arch file (`hash` checked)."""
    if isinstance(obj, dict) and isinstance(obj.get("arch"), dict):
        obj = obj["arch"]
    if isinstance(obj, dict) and _EXPORT_KEYS & set(obj) and {"space", "choices"} <= set(obj):
        core = {"space": obj["space"], "choices": obj["choices"]}
        if "hash" in obj and Arch.from_dict(core).hash != obj["hash"]:
            raise InvalidArchitecture(f"{where}: \"hash\" {obj['hash']!r} does not match the choices (edited by "
                                      "hand?); drop the hash or restore the choices")
        return core
    return obj


def decode_json(source: str, where: str) -> Any:
    try:
        return json.loads(source)
    except json.JSONDecodeError as err:
        raise InvalidArchitecture(f"{where} is not valid JSON ({err.msg} at char {err.pos})") from None
    except RecursionError:
        raise InvalidArchitecture(f"{where} is JSON nested too deeply to be an architecture") from None


def _source(text: str, flag: str) -> tuple[str, str]:
    """(the text, how to name it in errors): `text` itself, or the content of the file it names."""
    stripped = text.strip()
    if stripped.startswith("{") or stripped.startswith("|") or _SHORT.match(stripped):
        return text, flag
    path = Path(text)
    try:
        exists = path.is_file()
    except (OSError, ValueError):  # a name too long, or with a NUL byte: not a file name at all
        exists = False
    if not exists:
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise UserError(f"{flag} {shown!r} is neither an architecture nor an existing file")
    if path.stat().st_size > _MAX_FILE_BYTES:
        raise UserError(f"{flag} {path}: {path.stat().st_size} bytes is too large for an architecture file")
    try:
        return path.read_bytes().decode("utf-8"), f"{flag} file {path}"
    except UnicodeDecodeError:
        raise UserError(f"{flag} {path} is not a text file (not UTF-8); give an architecture JSON file") from None
    except OSError as err:
        raise UserError(f"{flag} {path} cannot be read: {err.strerror}") from None

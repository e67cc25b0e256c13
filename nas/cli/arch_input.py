"""Reading an architecture given on the command line: inline JSON or a path to a JSON file."""

from __future__ import annotations

import json
from pathlib import Path

from nas.errors import InvalidArchitecture, UserError
from search_spaces.arch import Arch
from search_spaces.protocol import SearchSpace


def read_arch(text: str, space: SearchSpace) -> Arch:
    """`text` is JSON (`{"space": ..., "choices": [...]}`) or a file holding it (an exported
    `arch.json`, or a run record, whose "arch" entry is used)."""
    return space.parse(arch_object(text))


def arch_object(text: str) -> object:
    """The decoded architecture object of `--arch` (not yet checked against a space)."""
    source = text
    if not text.lstrip().startswith("{"):
        path = Path(text)
        if not path.is_file():
            raise UserError(f"--arch {text!r} is neither JSON nor an existing file")
        source = path.read_text()
    try:
        obj = json.loads(source)
    except json.JSONDecodeError as err:
        raise InvalidArchitecture(f"--arch is not valid JSON ({err.msg} at char {err.pos})") from None
    if isinstance(obj, dict) and "arch" in obj and isinstance(obj["arch"], dict):
        obj = obj["arch"]
    return obj

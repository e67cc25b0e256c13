"""Errors meant for users: the CLI prints them as one line and exits with status 2."""

import re

_RUNAWAY = re.compile(r"\S{120,}")


class UserError(Exception):
    """Bad input from a user (path, option, file). The message says what is wrong and how to fix it.

    A value echoed from the input is cut to its first characters when it runs on (a pasted file, a
    100 KB name): every message that quotes what it refuses stays a readable line."""

    def __str__(self) -> str:
        return _RUNAWAY.sub(lambda m: m.group()[:60] + "...", super().__str__())


class InvalidArchitecture(UserError, ValueError):
    """An architecture that does not belong to the space it claims (wrong length, bad choice, other space)."""

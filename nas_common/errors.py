"""Errors meant for users: the CLI prints them as one line and exits with status 2."""


class UserError(Exception):
    """Bad input from a user (path, option, file). The message says what is wrong and how to fix it."""


class InvalidArchitecture(UserError, ValueError):
    """An architecture that does not belong to the space it claims (wrong length, bad choice, other space)."""

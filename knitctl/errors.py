"""Errors a user can cause. The CLI prints them as one line, never a traceback."""


class KnitError(Exception):
    """A user-facing error: what went wrong, where, and how to fix it."""

    exit_code = 1

    def __init__(self, message: str, *, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(KnitError):
    """Bad input on the command line or in a file (exit code 2)."""

    exit_code = 2


class NotFound(KnitError):
    """An id or name that matches nothing."""


class Conflict(KnitError):
    """The request is valid but the current state forbids it."""

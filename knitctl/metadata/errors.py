"""Exception types for metadata errors, one per canonical status code.

The classes and codes match ML Metadata's `ml_metadata.errors`, so code that
catches `errors.NotFoundError` or `errors.AlreadyExistsError` ports unchanged.
Every class is also a `KnitError`, so the CLI prints it as one line.
"""

from __future__ import annotations

from typing import ClassVar

from ..errors import KnitError

OK = 0
CANCELLED = 1
UNKNOWN = 2
INVALID_ARGUMENT = 3
DEADLINE_EXCEEDED = 4
NOT_FOUND = 5
ALREADY_EXISTS = 6
PERMISSION_DENIED = 7
RESOURCE_EXHAUSTED = 8
FAILED_PRECONDITION = 9
ABORTED = 10
OUT_OF_RANGE = 11
UNIMPLEMENTED = 12
INTERNAL = 13
UNAVAILABLE = 14
DATA_LOSS = 15
UNAUTHENTICATED = 16


class StatusError(KnitError):
    """A failed metadata call: `error_code` is the canonical status code."""

    def __init__(self, message: str, error_code: int):
        super().__init__(message)
        self.error_code = error_code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class _CodedStatus(StatusError):
    """A StatusError whose class fixes the code: raised with the message alone."""

    code: ClassVar[int]

    def __init__(self, message: str):
        super().__init__(message, self.code)


class CancelledError(_CodedStatus):
    """The operation was cancelled."""

    code = CANCELLED


class UnknownError(_CodedStatus):
    """An error of an unknown kind."""

    code = UNKNOWN


class InvalidArgumentError(_CodedStatus):
    """The request is malformed."""

    code = INVALID_ARGUMENT


class DeadlineExceededError(_CodedStatus):
    """The deadline passed."""

    code = DEADLINE_EXCEEDED


class NotFoundError(_CodedStatus):
    """Something the request names does not exist."""

    code = NOT_FOUND


class AlreadyExistsError(_CodedStatus):
    """What the request would create exists already."""

    code = ALREADY_EXISTS


class PermissionDeniedError(_CodedStatus):
    """The store may not be changed this way."""

    code = PERMISSION_DENIED


class ResourceExhaustedError(_CodedStatus):
    """A resource ran out."""

    code = RESOURCE_EXHAUSTED


class FailedPreconditionError(_CodedStatus):
    """The store is not in a state where the call can run."""

    code = FAILED_PRECONDITION


class AbortedError(_CodedStatus):
    """The operation was aborted (a conflict); retrying may work."""

    code = ABORTED


class OutOfRangeError(_CodedStatus):
    """An index is outside its valid range."""

    code = OUT_OF_RANGE


class UnimplementedError(_CodedStatus):
    """Not supported by this implementation."""

    code = UNIMPLEMENTED


class InternalError(_CodedStatus):
    """An internal invariant broke."""

    code = INTERNAL


class UnavailableError(_CodedStatus):
    """The store cannot be reached right now."""

    code = UNAVAILABLE


class DataLossError(_CodedStatus):
    """Data was lost or corrupted."""

    code = DATA_LOSS


class UnauthenticatedError(_CodedStatus):
    """No valid credentials."""

    code = UNAUTHENTICATED



class ConnectionConfigError(InvalidArgumentError, RuntimeError):
    """A ConnectionConfig that opens nothing; also a RuntimeError, which is what ml-metadata raises then."""


class MigrationDisabledError(FailedPreconditionError, RuntimeError):
    """A store older than this knit's schema, opened without enable_upgrade_migration; also a
    RuntimeError, which is what ml-metadata raises then."""


_BY_CODE: dict[int, type[_CodedStatus]] = {
    cls.code: cls
    for cls in (
        CancelledError, UnknownError, InvalidArgumentError, DeadlineExceededError, NotFoundError,
        AlreadyExistsError, PermissionDeniedError, ResourceExhaustedError, FailedPreconditionError,
        AbortedError, OutOfRangeError, UnimplementedError, InternalError, UnavailableError,
        DataLossError, UnauthenticatedError,
    )
}


def exception_type_from_error_code(error_code: int) -> type[StatusError]:
    """The exception class for a status code; KeyError for OK or an unknown code."""
    return _BY_CODE[error_code]


def make_exception(message: str, error_code: int) -> StatusError:
    """An exception of the class matching `error_code` (UnknownError when there is none)."""
    try:
        return _BY_CODE[error_code](message)
    except KeyError:
        return StatusError(message, error_code)

"""Exception types for metadata errors, one per canonical status code.

The classes and codes match ML Metadata's `ml_metadata.errors`, so code that
catches `errors.NotFoundError` or `errors.AlreadyExistsError` ports unchanged.
Every class is also a `KnitError`, so the CLI prints it as one line.
"""

from __future__ import annotations

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


def _status(name: str, code: int, doc: str) -> type[StatusError]:
    def __init__(self, message: str):
        StatusError.__init__(self, message, code)

    return type(name, (StatusError,), {"__init__": __init__, "__doc__": doc, "__module__": __name__})


CancelledError = _status("CancelledError", CANCELLED, "The operation was cancelled.")
UnknownError = _status("UnknownError", UNKNOWN, "An error of an unknown kind.")
InvalidArgumentError = _status("InvalidArgumentError", INVALID_ARGUMENT, "The request is malformed.")
DeadlineExceededError = _status("DeadlineExceededError", DEADLINE_EXCEEDED, "The deadline passed.")
NotFoundError = _status("NotFoundError", NOT_FOUND, "Something the request names does not exist.")
AlreadyExistsError = _status("AlreadyExistsError", ALREADY_EXISTS, "What the request would create exists already.")
PermissionDeniedError = _status("PermissionDeniedError", PERMISSION_DENIED, "The store may not be changed this way.")
ResourceExhaustedError = _status("ResourceExhaustedError", RESOURCE_EXHAUSTED, "A resource ran out.")
FailedPreconditionError = _status(
    "FailedPreconditionError", FAILED_PRECONDITION, "The store is not in a state where the call can run."
)
AbortedError = _status("AbortedError", ABORTED, "The operation was aborted (a conflict); retrying may work.")
OutOfRangeError = _status("OutOfRangeError", OUT_OF_RANGE, "An index is outside its valid range.")
UnimplementedError = _status("UnimplementedError", UNIMPLEMENTED, "Not supported by this implementation.")
InternalError = _status("InternalError", INTERNAL, "An internal invariant broke.")
UnavailableError = _status("UnavailableError", UNAVAILABLE, "The store cannot be reached right now.")
DataLossError = _status("DataLossError", DATA_LOSS, "Data was lost or corrupted.")
UnauthenticatedError = _status("UnauthenticatedError", UNAUTHENTICATED, "No valid credentials.")



class ConnectionConfigError(InvalidArgumentError, RuntimeError):  # type: ignore[misc, valid-type]
    """A ConnectionConfig that opens nothing; also a RuntimeError, which is what ml-metadata raises then."""


class MigrationDisabledError(FailedPreconditionError, RuntimeError):  # type: ignore[misc, valid-type]
    """A store older than this knit's schema, opened without enable_upgrade_migration; also a
    RuntimeError, which is what ml-metadata raises then."""


_BY_CODE: dict[int, type[StatusError]] = {
    cls(  # type: ignore[call-arg]
        ""
    ).error_code: cls
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
        return exception_type_from_error_code(error_code)(message)
    except KeyError:
        return StatusError(message, error_code)

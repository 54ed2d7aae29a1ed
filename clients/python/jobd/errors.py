"""The status codes of jobd's wire contract and one exception per code.

Every failed call raises a subclass of :class:`Error` named after its gRPC
code (``NotFound``, ``InvalidArgument``, ...). ``e.code`` is the
:class:`Code`, ``e.message`` the daemon's message (or the client's own, for
the errors it makes itself: ``Unavailable`` when the daemon was never
reached, ``DeadlineExceeded`` when no answer came in time, ``Cancelled``
when the client is closed, ``ResourceExhausted`` for a request too large to
send). ``str(e)`` is ``"NOT_FOUND: job 5 not found"``.
"""
from __future__ import annotations

import enum


class Code(enum.IntEnum):
    """gRPC's status codes, with gRPC's names and numbers (jobd.v1.Code)."""

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


class Error(Exception):
    """A call that did not succeed: its :class:`Code` and message."""

    code: Code = Code.UNKNOWN

    def __init__(self, message: str, code: Code | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class Cancelled(Error):
    code = Code.CANCELLED


class Unknown(Error):
    code = Code.UNKNOWN


class InvalidArgument(Error):
    code = Code.INVALID_ARGUMENT


class DeadlineExceeded(Error):
    code = Code.DEADLINE_EXCEEDED


class NotFound(Error):
    code = Code.NOT_FOUND


class AlreadyExists(Error):
    code = Code.ALREADY_EXISTS


class PermissionDenied(Error):
    code = Code.PERMISSION_DENIED


class ResourceExhausted(Error):
    code = Code.RESOURCE_EXHAUSTED


class FailedPrecondition(Error):
    code = Code.FAILED_PRECONDITION


class Aborted(Error):
    code = Code.ABORTED


class OutOfRange(Error):
    code = Code.OUT_OF_RANGE


class Unimplemented(Error):
    code = Code.UNIMPLEMENTED


class Internal(Error):
    code = Code.INTERNAL


class Unavailable(Error):
    code = Code.UNAVAILABLE


class DataLoss(Error):
    code = Code.DATA_LOSS


class Unauthenticated(Error):
    code = Code.UNAUTHENTICATED


_BY_CODE: dict[int, type[Error]] = {
    cls.code.value: cls
    for cls in (Cancelled, Unknown, InvalidArgument, DeadlineExceeded,
                NotFound, AlreadyExists, PermissionDenied, ResourceExhausted,
                FailedPrecondition, Aborted, OutOfRange, Unimplemented,
                Internal, Unavailable, DataLoss, Unauthenticated)
}


def error_for(code: int, message: str) -> Error:
    """The exception for a status code from the wire (an unknown number,
    or OK where an error was due, becomes :class:`Unknown`)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return Unknown(f"status code {code}: {message}")
    return cls(message)

"""Refusals of the approval engine: each carries a human sentence and a machine code."""


class ApprovalError(Exception):
    """Base: ``message`` is shown to the person as is; ``code`` is for the API."""

    code = "refused"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code

    def __str__(self) -> str:
        return self.message


class DecisionRefused(ApprovalError):
    """An approve/deny that may not be recorded; nothing was changed."""


class RequestRefused(ApprovalError):
    """A create, withdraw, tick or apply that may not happen; nothing was changed."""


class RequestNotFound(DecisionRefused, RequestRefused):
    code = "not_found"


class ApplyBlocked(ApprovalError):
    """Raised by an effect applier when the world moved under an approved request
    (e.g. the tier changed meanwhile). The request stays approved, with the reason shown."""

    code = "apply_blocked"

"""Discord-shaped API errors raised by the emulator's REST layer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Messages Discord sends with each JSON error code.
ERROR_MESSAGES: dict[int, str] = {
    10003: "Unknown Channel",
    10004: "Unknown Guild",
    10007: "Unknown Member",
    10008: "Unknown Message",
    10011: "Unknown Role",
    10013: "Unknown User",
    10015: "Unknown Webhook",
    10062: "Unknown interaction",
    10063: "Unknown application command",
    10066: "Unknown application command permissions",
    10070: "Unknown Guild Scheduled Event",
    30005: "Maximum number of guild roles reached (250)",
    30038: "Maximum number of uncompleted guild scheduled events reached (100)",
    40005: "Request entity too large",
    40060: "Interaction has already been acknowledged.",
    50001: "Missing Access",
    50005: "Cannot edit a message authored by another user",
    50006: "Cannot send an empty message",
    50007: "Cannot send messages to this user",
    50013: "Missing Permissions",
    50027: "Invalid Webhook Token",
    50035: "Invalid Form Body",
    50109: "The request body contains invalid JSON.",
    180000: "Cannot update a finished event",
}

# Messages Discord sends for errors that carry code 0.
STATUS_MESSAGES: dict[int, str] = {
    400: "400: Bad Request",
    401: "401: Unauthorized",
    403: "403: Forbidden",
    404: "404: Not Found",
    405: "405: Method Not Allowed",
    429: "You are being rate limited.",
    500: "500: Internal Server Error",
}

# Bodies of server errors as they come back through Discord's edge: not always JSON.
SERVER_ERROR_TEXT: dict[int, str] = {
    502: "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
    "</center><hr><center>cloudflare</center></body></html>",
    503: "upstream connect error or disconnect/reset before headers. reset reason: overflow",
    504: "<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out"
    "</h1></center></body></html>",
}


def error_body(status: int, code: int = 0, message: str | None = None) -> dict[str, Any]:
    """The JSON body Discord sends for an error with this status and code."""
    if message is None:
        message = ERROR_MESSAGES.get(code) if code else None
    if message is None:
        message = STATUS_MESSAGES.get(status, f"{status}: Error")
    return {"message": message, "code": code}


class ApiError(Exception):
    """An error response: raised anywhere inside a request handler, turned into a response by the server."""

    def __init__(
        self,
        status: int,
        code: int = 0,
        message: str | None = None,
        *,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        text: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.body: dict[str, Any] = error_body(status, code, message)
        if errors:
            self.body["errors"] = errors
        self.headers = headers or {}
        self.text = text
        super().__init__(f"{status} {self.body['message']} (code {code})")


class FormErrors:
    """Collects field errors into Discord's nested ``errors`` structure for a 50035 response.

    A path such as ``("embeds", 0, "title")`` becomes
    ``{"embeds": {"0": {"title": {"_errors": [{"code": ..., "message": ...}]}}}}``.
    """

    def __init__(self, prefix: Sequence[str | int] = ()) -> None:
        self.prefix = tuple(prefix)
        self.tree: dict[str, Any] = {}

    def __bool__(self) -> bool:
        return bool(self.tree)

    def add(self, path: Sequence[str | int], code: str, message: str) -> None:
        node = self.tree
        for part in (*self.prefix, *path):
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def max_length(self, path: Sequence[str | int], value: str | None, limit: int, *, minimum: int = 0) -> None:
        if value is None:
            return
        if not isinstance(value, str):
            self.add(path, "BASE_TYPE_STRING", "Must be a string.")
        elif minimum and not minimum <= len(value) <= limit:
            self.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {minimum} and {limit} in length.")
        elif len(value) > limit:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def required(self, path: Sequence[str | int]) -> None:
        self.add(path, "BASE_TYPE_REQUIRED", "This field is required")

    def raise_if_any(self) -> None:
        if self.tree:
            raise ApiError(400, 50035, errors=self.tree)


def form_error(path: Sequence[str | int], code: str, message: str) -> ApiError:
    errors = FormErrors()
    errors.add(path, code, message)
    return ApiError(400, 50035, errors=errors.tree)


class EmulatorUsageError(AssertionError):
    """A test asked the emulator for something a Discord user could not do (unknown command, bad option...).

    Subclasses AssertionError so that pytest reports it as a failed expectation with its message.
    """

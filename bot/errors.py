"""Errors whose message is the text shown to the member who caused them."""

from __future__ import annotations


class PodiumError(Exception):
    """A problem the member can fix; ``str(error)`` is the reply they see."""


class InputError(PodiumError):
    """A value typed by a member was malformed or out of range."""


class NotFoundError(PodiumError):
    """The talk (or other record) does not exist in this server."""


class PermissionDeniedError(PodiumError):
    """The member lacks the role or permission the action needs."""


class StateError(PodiumError):
    """The action does not fit the talk's current state (cancelled, over, ...)."""


class ConfigurationError(Exception):
    """The bot's own settings are unusable; raised at start-up only."""

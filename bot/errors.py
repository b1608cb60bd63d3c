"""Errors whose message is the text shown to the member who caused them."""

from __future__ import annotations

from bot.i18n import Text, render


class PodiumError(Exception):
    """A problem the member can fix; ``render(language)`` is the reply they see, ``str(error)`` its English."""

    def __init__(self, text: Text | str) -> None:
        super().__init__(str(text))
        self.text = text

    def render(self, language: str) -> str:
        return render(self.text, language)


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

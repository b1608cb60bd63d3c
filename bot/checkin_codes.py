"""The check-in codes organizers put on a slide (``/talk edit checkin_code:true``, ``/talk code``)."""

from __future__ import annotations

import secrets

# No 0/O, 1/I/L, 5/S, 2/Z, 8/B: a code read off a slide at the back of a room is typed right the first time.
CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
CODE_LENGTH = 6


def new_code() -> str:
    """A fresh code: CODE_LENGTH characters from CODE_ALPHABET, from the system's CSPRNG (25^6, 244 million)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalized_code(typed: str) -> str:
    """What a member typed, as a code is stored: capitals, without spaces or dashes (``acd-efg`` is ``ACDEFG``)."""
    return "".join(character for character in typed.upper() if character not in " -_.\t")

"""Discord-style rate limiting: per-route buckets keyed on major parameters, and a global per-second limit."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import ApiError

RouteLimit = tuple[int, float]

# Limits close to what Discord hands out for the busiest routes (count, window in seconds).
DISCORD_LIKE_LIMITS: dict[str, RouteLimit] = {
    "POST /channels/{channel_id}/messages": (5, 5.0),
    "PATCH /channels/{channel_id}/messages/{message_id}": (5, 5.0),
    "DELETE /channels/{channel_id}/messages/{message_id}": (5, 1.0),
    "POST /users/@me/channels": (10, 10.0),
    "PUT /channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me": (1, 0.25),
    "PUT /applications/{application_id}/commands": (2, 60.0),
    "PUT /applications/{application_id}/guilds/{guild_id}/commands": (2, 60.0),
    "POST /webhooks/{webhook_id}/{webhook_token}": (5, 2.0),
    "PATCH /guilds/{guild_id}/members/{user_id}": (10, 10.0),
    "PUT /guilds/{guild_id}/members/{user_id}/roles/{role_id}": (10, 10.0),
    "POST /guilds/{guild_id}/scheduled-events": (10, 10.0),
}


def bucket_hash(route_key: str) -> str:
    return hashlib.md5(route_key.encode(), usedforsecurity=False).hexdigest()


@dataclass
class Bucket:
    limit: int
    window: float
    remaining: int = 0
    reset_at: float = 0.0  # monotonic

    def refresh(self, now: float) -> None:
        if now >= self.reset_at:
            self.remaining = self.limit
            self.reset_at = now + self.window


@dataclass
class RateLimitResult:
    headers: dict[str, str] = field(default_factory=dict)


class RateLimiter:
    """Counts requests. ``check`` either returns headers for a successful request or raises a 429 ApiError."""

    def __init__(
        self,
        *,
        global_limit: int | None,
        default_limit: RouteLimit,
        route_limits: Mapping[str, RouteLimit] | None = None,
    ) -> None:
        self.global_limit = global_limit
        self.default_limit = default_limit
        self.route_limits: dict[str, RouteLimit] = dict(route_limits or {})
        self._buckets: dict[tuple[str, str], Bucket] = {}
        self._global_window_start = 0.0
        self._global_count = 0

    def reset(self) -> None:
        self._buckets.clear()
        self._global_count = 0

    def _check_global(self, now: float) -> None:
        if self.global_limit is None:
            return
        if now - self._global_window_start >= 1.0:
            self._global_window_start = now
            self._global_count = 0
        if self._global_count >= self.global_limit:
            retry_after = round(max(0.001, self._global_window_start + 1.0 - now), 3)
            raise rate_limited(retry_after, scope="global", is_global=True)
        self._global_count += 1

    def check(self, route_key: str, major: str, *, exempt_from_global: bool) -> dict[str, str]:
        now = time.monotonic()
        limit, window = self.route_limits.get(route_key, self.default_limit)
        key = (route_key, major)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(limit=limit, window=window)
        bucket.refresh(now)
        reset_after = max(0.0, bucket.reset_at - now)
        headers = {
            "X-RateLimit-Limit": str(bucket.limit),
            "X-RateLimit-Bucket": bucket_hash(route_key),
        }
        if bucket.remaining <= 0:
            headers.update(
                {
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
                    "X-RateLimit-Reset-After": f"{reset_after:.3f}",
                }
            )
            raise rate_limited(round(max(reset_after, 0.001), 3), scope="user", is_global=False, headers=headers)
        if not exempt_from_global:
            self._check_global(now)
        bucket.remaining -= 1
        headers.update(
            {
                "X-RateLimit-Remaining": str(bucket.remaining),
                "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
                "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            }
        )
        return headers


def rate_limited(
    retry_after: float,
    *,
    scope: str = "user",
    is_global: bool = False,
    headers: dict[str, str] | None = None,
) -> ApiError:
    """A 429 the way Discord sends it (body with retry_after and global, Retry-After and scope headers)."""
    all_headers = dict(headers or {})
    all_headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    all_headers["X-RateLimit-Scope"] = scope
    if is_global:
        all_headers["X-RateLimit-Global"] = "true"
    error = ApiError(429, 0, "You are being rate limited.", headers=all_headers)
    error.body["retry_after"] = retry_after
    error.body["global"] = is_global
    return error

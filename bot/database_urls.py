"""What the logs may say of a PostgreSQL URL (host, port, database) and the secrets they must never show."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

from bot.logs import MIN_SECRET


def describe_target(url: str) -> str:
    """host:port/dbname, what the logs say of the target: never the user, password or other parameters."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    hosts = parts.netloc.rpartition("@")[2] or query.get("host", ["localhost"])[0]
    if "," not in hosts and not re.search(r":\d+$", hosts):
        hosts = f"{hosts}:{query.get('port', ['5432'])[0]}"
    database = unquote(parts.path.lstrip("/")) or query.get("dbname", ["(the user's)"])[0]
    return f"{hosts}/{database}"


def url_secrets(url: str) -> list[str]:
    """The password(s) a URL carries, as written and decoded, for the log filter to redact."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    found = [parts.password or "", *query.get("password", []), *query.get("sslpassword", [])]
    forms = {form for secret in found for form in (secret, unquote(secret))}
    return sorted(form for form in forms if len(form) >= MIN_SECRET)

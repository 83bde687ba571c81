"""How sessions read to people: device labels and times, for the API, the admin and commands."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from django.utils.translation import gettext_lazy as _

_BROWSERS = [
    ("Edge", re.compile(r"Edg(e|A|iOS)?/")),
    ("Opera", re.compile(r"OPR/|Opera")),
    ("Firefox", re.compile(r"Firefox/|FxiOS/")),
    ("Chrome", re.compile(r"Chrome/|CriOS/|Chromium/")),
    ("Safari", re.compile(r"Safari/")),
]
_SYSTEMS = [
    ("Android", re.compile(r"Android")),
    ("iOS", re.compile(r"iPhone|iPad|iPod")),
    ("Windows", re.compile(r"Windows")),
    ("macOS", re.compile(r"Mac OS X|Macintosh")),
    ("ChromeOS", re.compile(r"CrOS")),
    ("Linux", re.compile(r"Linux")),
]
_TOOLS = re.compile(r"^(python-httpx|python-requests|curl|Wget|okhttp|axios|node-fetch)\b", re.I)


def device_label(user_agent: str) -> str:
    """Return a short label for a user agent, such as "Firefox on Linux" or "curl"."""
    if not user_agent:
        return str(_("Unknown device"))
    tool = _TOOLS.match(user_agent)
    if tool:
        return tool.group(1)
    browser = next((name for name, pattern in _BROWSERS if pattern.search(user_agent)), None)
    system = next((name for name, pattern in _SYSTEMS if pattern.search(user_agent)), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or user_agent.split("/", 1)[0][:40]


# What stands for the middle of a shortened user agent.
ELISION = "…"


def shorten_user_agent(agent: str, max_bytes: int) -> str:
    """Return `agent` within `max_bytes` bytes of UTF-8: whole, or its start and end around "…".

    Eliding the middle keeps what device_label() reads: the platform, in parentheses near the
    start, and the last product token, at the end (Edge's `Edg/131.0.2903.86`, Safari's
    `Safari/604.1`). The start gets the odd byte; a character cut in two is dropped whole.
    Shortening twice, to a limit and then to a smaller one, gives what shortening once to the
    smaller gives.
    """
    data = agent.encode()
    if len(data) <= max_bytes:
        return agent
    room = max_bytes - len(ELISION.encode())
    if room < 2:
        return data[: max(max_bytes, 0)].decode(errors="ignore")
    head = data[: (room + 1) // 2].decode(errors="ignore")
    tail = data[len(data) - room // 2 :].decode(errors="ignore")
    return head + ELISION + tail


def moment(seconds: float) -> datetime:
    """Return a store time (seconds since the epoch) as an aware UTC datetime."""
    return datetime.fromtimestamp(seconds, tz=UTC)


def moment_text(seconds: float) -> str:
    """Return a store time as text for a terminal, such as "2026-11-30 12:00:59 UTC"."""
    return moment(seconds).strftime("%Y-%m-%d %H:%M:%S UTC")

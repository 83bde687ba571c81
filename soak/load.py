"""The soak's simulated users: log in once, call an authenticated endpoint, refresh on 401.

Every user logs in once. Every `tab_every`-th user works in three tabs at once that share its one
session (as browser tabs share storage), so refreshes race each other; the rotation grace window
must hand them all the same successor, never end the session as a replay. Each tab calls
`/api/user/info` in a loop with a short think time, and on 401 `access_token_expired` either
picks up the pair a sibling tab just got or refreshes itself.

An error is anything else: a transport failure, a 5xx, an unexpected status or code. A lost
session is a refresh refused as `refresh_token_reused` (false reuse detection) or any refusal of
a session that should be live. At the end every session must still refresh and call.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

INFO = "/api/user/info"
LOGIN = "/api/auth/login"
REFRESH = "/api/auth/refresh"


@dataclass
class Session:
    """One user's session, shared by its tabs."""

    username: str
    access: str = ""
    refresh: str = ""
    lost: bool = False


@dataclass
class Report:
    """What the run saw."""

    users: int
    tabs: int
    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    lost_sessions: list[str] = field(default_factory=list)

    def record(self, kind: str, elapsed: float, outcome: str) -> None:
        self.latencies.setdefault(kind, []).append(elapsed)
        self.statuses[f"{kind} {outcome}"] += 1

    @property
    def requests(self) -> int:
        return sum(len(values) for values in self.latencies.values())

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float, kind: str | None = None) -> float:
        values = sorted(
            self.latencies.get(kind, [])
            if kind
            else [v for vs in self.latencies.values() for v in vs]
        )
        if not values:
            return 0.0
        return values[min(len(values) - 1, int(q * len(values)))]

    def summary(self) -> str:
        lines = [
            f"{self.users} users in {self.tabs} tabs, {self.seconds:.1f} s: "
            f"{self.requests} requests, {self.throughput:.0f} req/s, "
            f"p50 {self.percentile(0.5) * 1000:.1f} ms, p99 {self.percentile(0.99) * 1000:.1f} ms",
            f"errors: {len(self.errors)}, sessions lost: {len(self.lost_sessions)}",
        ]
        for kind in sorted(self.latencies):
            lines.append(
                f"  {kind:8} {len(self.latencies[kind]):7} requests, "
                f"p50 {self.percentile(0.5, kind) * 1000:6.1f} ms, "
                f"p99 {self.percentile(0.99, kind) * 1000:6.1f} ms"
            )
        lines.append(
            "  outcomes: " + ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        )
        lines.extend(f"  error: {e}" for e in self.errors[:10])
        lines.extend(f"  lost: {s}" for s in self.lost_sessions[:10])
        return "\n".join(lines)


class Load:
    """Drive the users against one base URL until the deadline, then check every session."""

    def __init__(
        self,
        base_url: str,
        usernames: list[str],
        password: str,
        *,
        seconds: float,
        think: float = 2.0,
        ramp: float = 0.0,
        timeout: float = 30.0,
        tab_every: int = 4,
        tabs_when_shared: int = 3,
    ) -> None:
        self.base_url = base_url
        self.password = password
        self.seconds = seconds
        self.think = think
        self.ramp = ramp
        self.sessions = [Session(name) for name in usernames]
        self.tab_counts = [
            tabs_when_shared if i % tab_every == 0 else 1 for i in range(len(self.sessions))
        ]
        self.report = Report(users=len(usernames), tabs=sum(self.tab_counts))
        self.client = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=0),
        )

    async def send(self, kind: str, method: str, url: str, **kwargs: Any) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            self.report.record(kind, time.perf_counter() - started, type(exc).__name__)
            self.report.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            return None
        elapsed = time.perf_counter() - started
        code = ""
        if response.status_code >= 400:
            try:
                code = " " + str(response.json().get("code"))
            except ValueError:
                code = " (not JSON)"
        self.report.record(kind, elapsed, f"{response.status_code}{code}")
        return response

    async def login(self, session: Session) -> None:
        response = await self.send(
            "login", "POST", LOGIN, json={"username": session.username, "password": self.password}
        )
        if response is None or response.status_code != 200:
            status = None if response is None else response.status_code
            self.report.errors.append(f"login of {session.username} answered {status}")
            session.lost = True
            return
        body = response.json()
        session.access, session.refresh = body["access_token"], body["refresh_token"]

    async def refresh(self, session: Session, stale_refresh: str) -> None:
        response = await self.send(
            "refresh", "POST", REFRESH, json={"refresh_token": stale_refresh}
        )
        if response is None:
            return
        if response.status_code == 200:
            body = response.json()
            # Tabs racing with the same old token all get the same successor (grace window).
            if session.refresh in (stale_refresh, body["refresh_token"]):
                session.access, session.refresh = body["access_token"], body["refresh_token"]
            return
        code = response.json().get("code") if response.status_code < 500 else None
        if code in ("refresh_token_reused", "session_revoked"):
            session.lost = True
            self.report.lost_sessions.append(f"{session.username}: {code}")
        else:
            self.report.errors.append(f"refresh answered {response.status_code} {code}")

    async def tab(self, session: Session, deadline: float) -> None:
        await asyncio.sleep(random.uniform(0, self.think))  # noqa: S311 (jitter)
        while time.monotonic() < deadline and not session.lost:
            access, refresh = session.access, session.refresh
            response = await self.send(
                "call", "GET", INFO, headers={"Authorization": f"Bearer {access}"}
            )
            if response is not None and response.status_code == 401:
                code = response.json().get("code")
                if code == "access_token_expired":
                    if session.access == access:  # no sibling tab has refreshed yet
                        await self.refresh(session, refresh)
                    continue
                session.lost = True
                self.report.lost_sessions.append(f"{session.username}: call {code}")
            elif response is not None and response.status_code != 200:
                self.report.errors.append(f"call answered {response.status_code}")
            await asyncio.sleep(random.uniform(0.5, 1.5) * self.think)  # noqa: S311

    async def user(self, index: int, deadline: float) -> None:
        session = self.sessions[index]
        # Users arrive over the ramp rather than all in the same millisecond.
        await asyncio.sleep(self.ramp * index / len(self.sessions))
        await self.login(session)
        if session.lost:
            return
        await asyncio.gather(*(self.tab(session, deadline) for _ in range(self.tab_counts[index])))

    async def check_every_session(self) -> None:
        async def check(session: Session) -> None:
            if session.lost:
                return
            # A refresh that succeeds proves the session is live in the store; the call then
            # proves its new access token works (unless the machine is so slow that it expired
            # on the way, which is no loss).
            await self.refresh(session, session.refresh)
            response = await self.send(
                "call", "GET", INFO, headers={"Authorization": f"Bearer {session.access}"}
            )
            if response is None or response.status_code == 200 or session.lost:
                return
            code = response.json().get("code") if response.status_code < 500 else None
            if code != "access_token_expired":
                self.report.lost_sessions.append(f"{session.username}: {code} at the end")

        await asyncio.gather(*(check(s) for s in self.sessions))

    async def run(self) -> Report:
        started = time.monotonic()
        deadline = started + self.seconds
        try:
            await asyncio.gather(*(self.user(i, deadline) for i in range(len(self.sessions))))
            self.report.seconds = time.monotonic() - started
            await self.check_every_session()
        finally:
            await self.client.aclose()
        return self.report


def run(base_url: str, usernames: list[str], password: str, **options: Any) -> Report:
    """Run the load to its end and return the report."""
    return asyncio.run(Load(base_url, usernames, password, **options).run())

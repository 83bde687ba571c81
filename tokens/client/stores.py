"""Token storage for `TokenAuth`: in memory (default) or a file several processes share.

A store holds one token pair and owns the single-flight lock that guards refreshing it, so every
`TokenAuth`, `httpx.Client` and `httpx.AsyncClient` that uses one store refreshes once between
them, whichever threads, tasks or event loops they run on.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import tempfile
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ClientError

# How often a task waiting for a lock held by another thread or process looks again. Blocking
# the event loop on a threading lock or flock() would stall every other task.
LOCK_POLL_SECONDS = 0.005


@dataclass(frozen=True)
class Tokens:
    """A token pair and when its access token expires, on this process's `time.monotonic()`."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: float
    expires_at: float
    refresh_expires_in: float | None = None

    @classmethod
    def from_response(cls, body: Mapping[str, Any], *, received_at: float | None = None) -> Tokens:
        """Return the pair in a login or refresh response body, anchored at `received_at`.

        `received_at` is a `time.monotonic()` reading, the moment the response arrived (now if
        not given): the server's clock never matters, only the lifetime it granted.
        """
        anchor = time.monotonic() if received_at is None else received_at
        try:
            access = body["access_token"]
            refresh = body["refresh_token"]
            expires_in = float(body["expires_in"])
            refresh_expires_in = body.get("refresh_expires_in")
            if refresh_expires_in is not None:
                refresh_expires_in = float(refresh_expires_in)
        except (KeyError, TypeError, ValueError) as exc:
            raise ClientError(
                "The token response lacks a token pair.", code="bad_response"
            ) from exc
        if not isinstance(access, str) or not isinstance(refresh, str):
            raise ClientError("The token response lacks a token pair.", code="bad_response")
        return cls(access, refresh, expires_in, anchor + expires_in, refresh_expires_in)

    @property
    def remaining(self) -> float:
        """Return the seconds the access token has left (negative once expired)."""
        return self.expires_at - time.monotonic()


class TokenStore:
    """Where `TokenAuth` keeps its token pair; subclasses provide `load()` and `save()`.

    The store also owns the refresh lock: a `threading.Lock` for threads, one `asyncio.Lock` per
    event loop for tasks, and `acquire_process_lock()` for stores shared between processes.
    """

    def __init__(self) -> None:
        self._thread_lock = threading.Lock()
        self._loop_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._loop_locks_guard = threading.Lock()
        # Single-flight bookkeeping, changed only under the lock: `flight` counts finished
        # refreshes and logins, `failure` is the last one's error (None if it succeeded), so a
        # caller who waited for a flight shares its outcome instead of trying again.
        self.flight = 0
        self.failure: ClientError | None = None
        # The session ended (refresh refused or logout): do not log in again on our own.
        self.ended = False

    def load(self) -> Tokens | None:
        """Return the stored pair, or None when there is none."""
        raise NotImplementedError("subclasses of TokenStore must provide a load() method")

    def save(self, tokens: Tokens | None) -> None:
        """Store a pair, replacing the previous one; None removes it."""
        raise NotImplementedError("subclasses of TokenStore must provide a save() method")

    def acquire_process_lock(self, *, blocking: bool) -> bool:
        """Take the lock shared with other processes; return False if busy and not blocking."""
        return True

    def release_process_lock(self) -> None:
        """Release the lock `acquire_process_lock()` took."""

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the refresh lock against other threads (and processes, if the store is shared)."""
        with self._thread_lock:
            self.acquire_process_lock(blocking=True)
            try:
                yield
            finally:
                self.release_process_lock()

    @contextlib.asynccontextmanager
    async def alock(self) -> AsyncIterator[None]:
        """Hold the refresh lock against other tasks, threads and processes, without blocking."""
        async with self._loop_lock():
            # Tasks of this loop queue on the asyncio lock; only the one at its head polls the
            # thread lock, which is held only by other threads or event loops.
            while not self._thread_lock.acquire(blocking=False):
                await asyncio.sleep(LOCK_POLL_SECONDS)
            try:
                while not self.acquire_process_lock(blocking=False):
                    await asyncio.sleep(LOCK_POLL_SECONDS)
                try:
                    yield
                finally:
                    self.release_process_lock()
            finally:
                self._thread_lock.release()

    def _loop_lock(self) -> asyncio.Lock:
        # An asyncio.Lock belongs to one event loop; a store may outlive several asyncio.run()s.
        loop = asyncio.get_running_loop()
        with self._loop_locks_guard:
            lock = self._loop_locks.get(loop)
            if lock is None:
                lock = self._loop_locks[loop] = asyncio.Lock()
            return lock


class MemoryTokenStore(TokenStore):
    """Keep the pair in this process's memory: the default, gone when the process exits."""

    def __init__(self, tokens: Tokens | None = None) -> None:
        super().__init__()
        self._tokens = tokens

    def load(self) -> Tokens | None:
        """Return the pair held in memory."""
        return self._tokens

    def save(self, tokens: Tokens | None) -> None:
        """Hold this pair in memory."""
        self._tokens = tokens


class FileTokenStore(TokenStore):
    """Keep the pair in a JSON file (mode 0600) that several processes of one program share.

    Refreshes take an exclusive `flock()` on `<path>.lock` and re-read the file first, so when
    several processes find the access token expiring, one refreshes and the others pick up its
    result instead of replaying a rotated refresh token. Writes replace the file atomically.
    Expiry is written as wall-clock time (monotonic clocks do not survive a reboot) and turned
    back into a `time.monotonic()` deadline on reading. POSIX only (fcntl).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__()
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._lock_fd: int | None = None
        # (inode, mtime, size) of the file last parsed, and its pair: one tuple, replaced whole,
        # so threads reading it outside the lock never see a key with another file's pair.
        self._cache: tuple[tuple[int, int, int], Tokens | None] | None = None

    def load(self) -> Tokens | None:
        """Return the pair in the file (re-read only when the file changed), or None."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            self._cache = None
            return None
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        cache = self._cache
        if cache is not None and cache[0] == key:
            return cache[1]
        tokens = self._read()
        self._cache = (key, tokens)
        return tokens

    def _read(self) -> Tokens | None:
        try:
            data = json.loads(self.path.read_text())
            wall_expires_at = float(data["expires_at"])
            body = {**data, "expires_in": float(data["expires_in"])}
            tokens = Tokens.from_response(body)
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, ClientError):
            # An unreadable file holds no session we could use: the same as no file.
            return None
        deadline = time.monotonic() + (wall_expires_at - time.time())
        return Tokens(
            tokens.access_token,
            tokens.refresh_token,
            tokens.expires_in,
            deadline,
            tokens.refresh_expires_in,
        )

    def save(self, tokens: Tokens | None) -> None:
        """Write the pair to the file atomically, or delete the file for None."""
        if tokens is None:
            self.path.unlink(missing_ok=True)
            self._cache = None
            return
        data = {
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_in": tokens.expires_in,
            "expires_at": time.time() + tokens.remaining,
            "refresh_expires_in": tokens.refresh_expires_in,
        }
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # mkstemp creates the file 0600: the tokens are never readable by other users.
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def acquire_process_lock(self, *, blocking: bool) -> bool:
        """Take an exclusive flock() on `<path>.lock`; return False if busy and not blocking."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._lock_fd = fd
        return True

    def release_process_lock(self) -> None:
        """Release the flock()."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

"""The blocking client, safe to share between threads.

``with jobd.Client("tcp://127.0.0.1:7077") as c: c.ping()``

It runs the asyncio client (:mod:`jobd.aio`) on an event loop in a thread
of its own: a call from any thread is handed to that loop
(``asyncio.run_coroutine_threadsafe``) and the calling thread blocks on
its answer. So many threads share one connection with their calls in
flight at once, the replies matched to them by request id, and the
connection, the redials and the re-sends are the asyncio client's, in one
place; TLS too runs on that one thread (an ``ssl.SSLSocket`` must not be
read and written from two threads at once). Requests are built and replies
converted on the calling thread (:mod:`jobd._envelope`).

``close()`` (or leaving the ``with`` block) fails the calls in flight with
:class:`~jobd.Cancelled`, stops the loop and joins its thread.
"""
from __future__ import annotations

import asyncio
import builtins
import ssl
import threading
from collections.abc import Coroutine, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from . import _envelope as env
from . import aio, errors
from .aio import DEFAULT
from .types import (TLS, GetResult, Job, JobSpec, Kind, Page, Pong,
                    Schedule, State, Stats, Submitted)

__all__ = ["Client"]

T = TypeVar("T")


class Client:
    """A blocking client of jobd, safe to share between threads.

    ``address``: ``tcp://HOST:PORT``, ``tls+tcp://HOST:PORT`` or
    ``ipc://PATH``. ``token``: the daemon's auth token, sent as
    ``authorization: Bearer TOKEN``. ``tls``: a :class:`jobd.TLS` (CA file,
    optional client certificate and key, server name) or an
    ``ssl.SSLContext``; the daemon's certificate is always verified.
    ``timeout``: the default deadline of every call but :meth:`wait`, in
    seconds (None: none); each call takes its own ``timeout=``.

    The client connects on its first call; if the daemon cannot be reached
    then, the call raises :class:`jobd.Unavailable`. Once connected, it
    redials by itself and re-sends the calls in flight.
    """

    def __init__(self, address: str, *, token: str | None = None,
                 tls: TLS | ssl.SSLContext | None = None,
                 timeout: float | None = 10.0) -> None:
        self._aio = aio.Client(address, token=token, tls=tls,
                               timeout=timeout)
        self._timeout = timeout
        self._closed = False
        self._close_lock = threading.Lock()
        self._sched_lock = threading.Lock()  # _closed vs. scheduling
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever,
                                        name=f"jobd-client {address}",
                                        daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        """The address the client dials."""
        return self._aio.address

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        with self._sched_lock:
            if self._closed:
                coro.close()
                raise errors.Cancelled("client closed")
            fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return fut.result()
        except BaseException:
            fut.cancel()
            raise

    def _call(self, req: tuple[str, bytes], timeout: float | None) -> bytes:
        return self._run(self._aio._call(req[0], req[1], timeout))

    def _t(self, timeout: float | None) -> float | None:
        return self._timeout if timeout is DEFAULT else timeout

    def close(self) -> None:
        """Close the connection and stop the client's thread; calls in
        flight fail with Cancelled. Closing twice is harmless."""
        with self._close_lock:
            if self._closed:
                return
            try:
                asyncio.run_coroutine_threadsafe(self._aio.close(),
                                                 self._loop).result()
            finally:
                with self._sched_lock:
                    self._closed = True
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join()
                # calls scheduled before _closed was set and not yet run:
                # they find the aio client closed and fail with Cancelled
                self._loop.run_until_complete(asyncio.sleep(0.01))
                self._loop.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the methods ---------------------------------------------------

    def submit(self, kind: str, params: Mapping[str, str] | None = None, *,
               input: bytes = b"", priority: int = 0,
               job_timeout: float | None = None, max_attempts: int = 1,
               idempotency_key: str | None = None,
               run_at: datetime | None = None,
               delay: float | timedelta | None = None,
               after: Iterable[int | Job] = (),
               unique_key: str | None = None,
               timeout: float | None = DEFAULT) -> Submitted:
        """Submit a job of ``kind`` with ``params`` and ``input``.

        ``priority``: higher runs first. ``job_timeout``: seconds the job
        may run (None: no limit). ``max_attempts``: runs before it fails
        for good. ``idempotency_key``: the same key again answers the first
        job (``existing=True``); without one the client makes a random key,
        kept for the re-sends of this call. Returns :class:`Submitted`.

        Scheduling:

        - ``run_at``: a timezone-aware ``datetime`` (a naive one raises
          ``TypeError``: say ``datetime.now(timezone.utc)``, or
          ``t.astimezone()`` for local time), or ``delay``: seconds (or a
          ``timedelta``) from the daemon's receipt. Not both. The job is
          ``State.SCHEDULED`` until then; a time in the past runs it now;
          at most 10 years ahead (the daemon answers
          :class:`jobd.InvalidArgument` otherwise).
        - ``after``: jobs (ids or :class:`Job` objects, at most 64) that
          must each succeed first; the job is queued meanwhile, its
          ``waiting`` naming the first one not done. If one fails or is
          cancelled, this job is cancelled with an error naming it. An
          unknown id is :class:`jobd.NotFound`; one that already failed or
          was cancelled is :class:`jobd.FailedPrecondition`.
        - ``unique_key``: while a job with this key is scheduled, queued or
          running, that job is the answer (``existing=True``); once it has
          ended, the key makes a new job.
        """
        spec = env.spec(kind, params, input, priority, job_timeout,
                        max_attempts, idempotency_key, run_at, delay, after,
                        unique_key)
        return env.submit_reply(self._call(env.build(env.submit_request,
                                                     spec),
                                           self._t(timeout)))

    def submit_batch(self, jobs: Iterable[JobSpec], *,
                     timeout: float | None = DEFAULT
                     ) -> builtins.list[Submitted]:
        """Submit 1 to 1000 jobs at once, accepted all or none; one
        :class:`Submitted` per job, in order."""
        return env.submit_batch_reply(
            self._call(env.build(env.submit_batch_request, list(jobs)),
                       self._t(timeout)))

    def get(self, id: int, *, timeout: float | None = DEFAULT) -> Job:
        """The job ``id``; :class:`jobd.NotFound` when there is none."""
        return env.get_one(self._call(env.build(env.get_request, [id]),
                                      self._t(timeout)), id)

    def get_many(self, ids: Iterable[int], *,
                 timeout: float | None = DEFAULT) -> GetResult:
        """The jobs of ``ids`` (at most 1000) and the ids not found."""
        return env.get_reply(self._call(env.build(env.get_request,
                                                  list(ids)),
                                        self._t(timeout)))

    def wait(self, id: int, *, timeout: float | None = None) -> Job:
        """The job once it has ended: succeeded, failed (a Job with state
        FAILED, not an exception) or cancelled. ``timeout``: seconds
        (default none); :class:`jobd.DeadlineExceeded` when they pass."""
        return env.wait_reply(self._call(env.build(env.wait_request, id),
                                         timeout))

    def cancel(self, id: int, *, timeout: float | None = DEFAULT) -> Job:
        """Cancel a job: a queued one ends at once, a running one when it
        next reports progress. :class:`jobd.FailedPrecondition` when it
        already succeeded or failed."""
        return env.cancel_reply(self._call(env.build(env.cancel_request, id),
                                           self._t(timeout)))

    def list(self, *, state: State | str | None = None,
             kind: str | None = None, limit: int = 100, cursor: int = 0,
             timeout: float | None = DEFAULT) -> Page:
        """One page of jobs, newest first, of ``state`` and ``kind`` (None:
        any); ``cursor``: the previous page's ``next_cursor``."""
        return env.list_reply(self._call(
            env.build(env.list_request, state, kind, limit, cursor),
            self._t(timeout)))

    def list_all(self, *, state: State | str | None = None,
                 kind: str | None = None, limit: int = 100,
                 timeout: float | None = DEFAULT) -> Iterator[Job]:
        """Every job (of ``state``, of ``kind``), newest first, following
        the cursors page by page."""
        cursor = 0
        while True:
            page = self.list(state=state, kind=kind, limit=limit,
                             cursor=cursor, timeout=timeout)
            yield from page.jobs
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def stats(self, *, timeout: float | None = DEFAULT) -> Stats:
        """The daemon's counters (:class:`jobd.Stats`)."""
        return env.stats_reply(self._call(env.stats_request(),
                                          self._t(timeout)))

    def kinds(self, *, timeout: float | None = DEFAULT) -> builtins.list[Kind]:
        """The job kinds the daemon runs, with their parameters."""
        return env.kinds_reply(self._call(env.kinds_request(),
                                          self._t(timeout)))

    def retry(self, id: int, *, timeout: float | None = DEFAULT) -> Job:
        """Put a failed or cancelled job back in the queue as a new run
        with the same id (queued, or waiting for its ``after`` jobs again):
        its attempts count from 0, ``reruns`` goes up by one and the run
        that ended is appended to ``history``. Returns the job.

        :class:`jobd.FailedPrecondition` for a job that succeeded or has
        not ended; :class:`jobd.NotFound` for an unknown id."""
        return env.retry_reply(self._call(env.build(env.retry_request, id),
                                          self._t(timeout)))

    def pause(self, kind: str, *, timeout: float | None = DEFAULT) -> bool:
        """Pause ``kind``: its queued jobs wait (``waiting`` is
        ``"kind paused"``), submits are still accepted, running jobs
        finish. Survives a restart of the daemon. Returns True if the kind
        was not paused before. :class:`jobd.NotFound` for a kind that is
        not defined."""
        return env.pause_reply(self._call(env.build(env.pause_request, kind),
                                          self._t(timeout)))

    def resume(self, kind: str, *, timeout: float | None = DEFAULT) -> bool:
        """Resume a paused ``kind``; True if it was paused.
        :class:`jobd.NotFound` for a kind that is neither defined nor
        paused."""
        return env.resume_reply(self._call(
            env.build(env.resume_request, kind), self._t(timeout)))

    def schedules(self, *, timeout: float | None = DEFAULT
                  ) -> builtins.list[Schedule]:
        """The periodic jobs the operator declared (``*.schedule`` files
        beside the kind files), each with its next firing; empty when
        there are none."""
        return env.schedules_reply(self._call(env.schedules_request(),
                                              self._t(timeout)))

    def ping(self, payload: bytes = b"", *,
             timeout: float | None = DEFAULT) -> Pong:
        """Ping: the payload echoed, the daemon's version and clock."""
        return env.ping_reply(self._call(env.build(env.ping_request,
                                                   payload),
                                         self._t(timeout)))

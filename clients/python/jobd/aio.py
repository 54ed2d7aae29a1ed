"""The asyncio client, and the connection both clients run on.

``async with jobd.aio.Client("tcp://127.0.0.1:7077") as c: await c.ping()``

One connection carries every call of a client at once: each call gets a
request id, its framed request is written as soon as it is made, and one
reader task matches the replies to the calls by id, in whatever order jobd
answers them (see :mod:`jobd._framing` for the wire format).

Connecting and reconnecting:
- The first call connects (dial, SP header, TLS when asked). When the client
  has never reached the daemon, that call fails at once with
  :class:`~jobd.Unavailable`, naming the address and the error.
- Once connected, a lost connection is redialed by the reader task in the
  background, with a backoff from 10 ms to 500 ms, and every call still in
  flight is sent again on the new connection, the same bytes (so a submit
  carries the same idempotency key, and jobd answers the re-sent one with
  the first job). A call made while the connection is down is sent once it
  is back.
- A call's deadline (``timeout=`` seconds) goes to jobd as the envelope's
  ``deadline_ms``; the client itself waits ``MARGIN`` seconds longer, so
  that jobd's own DEADLINE_EXCEEDED normally comes first, then fails the
  call with :class:`~jobd.DeadlineExceeded` (also when the daemon is away).
- ``close()`` fails the calls in flight with :class:`~jobd.Cancelled`.

Everything here runs on one event loop: the calls, the reader task and
their shared state (the table of calls in flight, the current writer), so
no locks are needed. The sync client (:mod:`jobd._client`) runs this client
on an event loop of its own thread.
"""
from __future__ import annotations

import asyncio
import builtins
import ssl
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from . import _envelope as env
from . import errors
from ._framing import (Address, Decoder, ProtocolError, ReplyTooLarge,
                       check_peer_header, frame, parse_address,
                       random_start, request_id, sp_header)
from .types import (TLS, GetResult, Job, JobSpec, Kind, Page, Pong,
                    Schedule, State, Stats, Submitted)

__all__ = ["Client"]

MARGIN = 1.0           # seconds waited beyond the deadline sent to jobd
BACKOFF_MIN = 0.01     # redial backoff, seconds
BACKOFF_MAX = 0.5
CONNECT_TIMEOUT = 10.0  # the first connect of a call without a deadline
HANDSHAKE_TIMEOUT = 10.0  # the peer's SP header (nng waits 10 s too)


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _Default()
"""The client's default timeout (10 s unless the Client says otherwise)."""

_DIAL_ERRORS = (OSError, ProtocolError, asyncio.IncompleteReadError,
                asyncio.TimeoutError, ValueError)


def make_ssl_context(tls: TLS | ssl.SSLContext | None, addr: Address
                     ) -> tuple[ssl.SSLContext | None, str | None]:
    """The SSL context and server name for ``addr`` (None for tcp/ipc).
    The daemon's certificate is always verified."""
    if addr.scheme != "tls+tcp":
        return None, None
    if isinstance(tls, ssl.SSLContext):
        return tls, addr.host
    if tls is None:
        return ssl.create_default_context(), addr.host
    ctx = ssl.create_default_context(cafile=tls.ca_file)
    if tls.cert_file:
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
    return ctx, tls.server_name or addr.host


def _describe(e: BaseException) -> str:
    if isinstance(e, asyncio.IncompleteReadError):
        return "connection closed during the SP handshake"
    if isinstance(e, asyncio.TimeoutError):
        return "timed out"
    return str(e) or type(e).__name__


class _Call:
    __slots__ = ("wire", "future")

    def __init__(self, wire: bytes, future: asyncio.Future[bytes]) -> None:
        self.wire = wire
        self.future = future


class Client:
    """An asyncio client of jobd; one connection, many calls in flight.

    ``address``: ``tcp://HOST:PORT``, ``tls+tcp://HOST:PORT`` or
    ``ipc://PATH``. ``token``: sent as ``authorization: Bearer TOKEN``.
    ``tls``: a :class:`jobd.TLS` or an ``ssl.SSLContext`` for
    ``tls+tcp://`` (without it, the system's CAs). ``timeout``: the default
    deadline of every call but :meth:`wait` (whose default is none), in
    seconds; None for none.

    Use it from one event loop. ``async with`` closes it.
    """

    def __init__(self, address: str, *, token: str | None = None,
                 tls: TLS | ssl.SSLContext | None = None,
                 timeout: float | None = 10.0) -> None:
        self._url = address
        self._token = token
        self._tls = tls
        self._timeout = timeout
        self._addr: Address | None = None
        self._addr_error: str | None = None
        try:
            self._addr = parse_address(address)
        except ValueError as e:
            self._addr_error = str(e)
        if tls is not None and self._addr is not None \
                and self._addr.scheme != "tls+tcp":
            raise ValueError(f"tls= given for '{address}', which is not "
                             "tls+tcp://")
        self._ipc = self._addr is not None and self._addr.ipc
        self._counter = random_start()
        self._pending: dict[int, _Call] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None
        self._closed = False
        self._last_error = ""

    @property
    def address(self) -> str:
        """The address the client dials."""
        return self._url

    # --- the connection ------------------------------------------------

    async def _open(self) -> tuple[asyncio.StreamReader,
                                   asyncio.StreamWriter]:
        """Dial, send our SP header, check the daemon's."""
        addr = self._addr
        assert addr is not None
        if addr.ipc:
            r, w = await asyncio.open_unix_connection(addr.path)
        else:
            ctx, name = make_ssl_context(self._tls, addr)
            r, w = await asyncio.open_connection(
                addr.host, addr.port, ssl=ctx,
                server_hostname=name if ctx else None)
        try:
            w.write(sp_header())
            head = await asyncio.wait_for(r.readexactly(8),
                                          HANDSHAKE_TIMEOUT)
            err = check_peer_header(head)
            if err is not None:
                raise ProtocolError(f"{addr.url}: {err}")
        except BaseException:
            w.transport.abort()
            raise
        return r, w

    async def _connect_first(self, timeout: float | None) -> None:
        """The first connection, made by a call: Unavailable if it fails."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._task is not None or self._closed:
                return
            if self._addr_error is not None:
                raise errors.Unavailable(
                    f"cannot reach jobd at '{self._url}': "
                    f"{self._addr_error}")
            limit = CONNECT_TIMEOUT if timeout is None else timeout + MARGIN
            try:
                r, w = await asyncio.wait_for(self._open(), limit)
            except _DIAL_ERRORS as e:
                raise errors.Unavailable(
                    f"cannot reach jobd at '{self._url}': "
                    f"{_describe(e)}") from None
            if self._closed:
                w.transport.abort()
                return
            self._writer = w
            self._task = asyncio.get_running_loop().create_task(
                self._run(r, w), name=f"jobd reader {self._url}")

    def _install(self, w: asyncio.StreamWriter) -> None:
        """A new connection: send every call still in flight, in order."""
        self._writer = w
        for call in self._pending.values():
            if not call.future.done():
                w.write(call.wire)

    async def _run(self, r: asyncio.StreamReader | None,
                   w: asyncio.StreamWriter | None) -> None:
        """Read replies; when the connection is lost, redial with backoff
        and re-send the calls in flight. Ends when the client closes."""
        backoff = BACKOFF_MIN
        try:
            while not self._closed:
                if r is None or w is None:
                    try:
                        r, w = await self._open()
                    except Exception as e:  # any failure: dial again
                        self._last_error = _describe(e)
                        await asyncio.sleep(backoff)
                        backoff = min(backoff * 2, BACKOFF_MAX)
                        continue
                    backoff = BACKOFF_MIN
                    self._install(w)
                await self._read(r)
                self._last_error = "connection lost"
                self._writer = None
                w.transport.abort()
                r = w = None
        finally:
            self._writer = None
            if w is not None:
                w.transport.abort()

    async def _read(self, r: asyncio.StreamReader) -> None:
        """Dispatch the replies of one connection until it ends."""
        decoder = Decoder(self._ipc)
        try:
            while True:
                data = await r.read(1 << 18)
                if not data:
                    return
                for rid, body in decoder.feed(data):
                    call = self._pending.get(rid)
                    if call is not None and not call.future.done():
                        call.future.set_result(body)
        except ReplyTooLarge as e:
            call = self._pending.get(e.req_id)
            if call is not None and not call.future.done():
                call.future.set_exception(errors.ResourceExhausted(str(e)))
        except Exception:  # OSError, ProtocolError: the connection is lost
            return

    async def _call(self, method: str, body: bytes,
                    timeout: float | None) -> bytes:
        """One call: its reply's body, or the call's error raised."""
        if self._closed:
            raise errors.Cancelled("client closed")
        deadline = env.deadline_ms(timeout)
        data = env.envelope(method, body, deadline, self._token)
        if self._task is None:
            await self._connect_first(timeout)
            if self._closed:
                raise errors.Cancelled("client closed")
        rid = request_id(self._counter)
        self._counter += 1
        loop = asyncio.get_running_loop()
        call = _Call(frame(rid, data, self._ipc), loop.create_future())
        self._pending[rid] = call
        if self._writer is not None:
            self._writer.write(call.wire)
        try:
            if timeout is None:
                reply = await call.future
            else:
                reply = await asyncio.wait_for(call.future, timeout + MARGIN)
        except asyncio.TimeoutError:
            state = ("" if self._writer is not None else
                     f" (not connected: {self._last_error})")
            raise errors.DeadlineExceeded(
                f"{method}: no answer from '{self._url}' within "
                f"{timeout} s{state}") from None
        finally:
            self._pending.pop(rid, None)
        return env.open_response(reply)

    def _t(self, timeout: float | None) -> float | None:
        return self._timeout if timeout is DEFAULT else timeout

    async def close(self) -> None:
        """Close the connection; calls in flight fail with Cancelled."""
        if self._closed:
            return
        self._closed = True
        for call in list(self._pending.values()):
            if not call.future.done():
                call.future.set_exception(errors.Cancelled("client closed"))
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._writer = None

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- the methods ---------------------------------------------------

    async def submit(self, kind: str, params: Mapping[str, str] | None = None,
                     *, input: bytes = b"", priority: int = 0,
                     job_timeout: float | None = None, max_attempts: int = 1,
                     idempotency_key: str | None = None,
                     run_at: datetime | None = None,
                     delay: float | timedelta | None = None,
                     after: Iterable[int | Job] = (),
                     unique_key: str | None = None,
                     timeout: float | None = DEFAULT) -> Submitted:
        """Submit a job (see :meth:`jobd.Client.submit`)."""
        spec = env.spec(kind, params, input, priority, job_timeout,
                        max_attempts, idempotency_key, run_at, delay, after,
                        unique_key)
        m, b = env.build(env.submit_request, spec)
        return env.submit_reply(await self._call(m, b, self._t(timeout)))

    async def submit_batch(self, jobs: Iterable[JobSpec], *,
                           timeout: float | None = DEFAULT
                           ) -> builtins.list[Submitted]:
        """Submit 1 to 1000 jobs at once, all or none."""
        m, b = env.build(env.submit_batch_request, list(jobs))
        return env.submit_batch_reply(await self._call(m, b,
                                                       self._t(timeout)))

    async def get(self, id: int, *, timeout: float | None = DEFAULT) -> Job:
        """The job ``id``; NotFound when there is none."""
        m, b = env.build(env.get_request, [id])
        return env.get_one(await self._call(m, b, self._t(timeout)), id)

    async def get_many(self, ids: Iterable[int], *,
                       timeout: float | None = DEFAULT) -> GetResult:
        """The jobs of ``ids`` (at most 1000) and the ids not found."""
        m, b = env.build(env.get_request, list(ids))
        return env.get_reply(await self._call(m, b, self._t(timeout)))

    async def wait(self, id: int, *, timeout: float | None = None) -> Job:
        """The job once it has ended (a failed job is a Job, not an error);
        DeadlineExceeded when ``timeout`` seconds pass first."""
        m, b = env.build(env.wait_request, id)
        return env.wait_reply(await self._call(m, b, timeout))

    async def cancel(self, id: int, *,
                     timeout: float | None = DEFAULT) -> Job:
        """Cancel a job; FailedPrecondition when it already succeeded or
        failed."""
        m, b = env.build(env.cancel_request, id)
        return env.cancel_reply(await self._call(m, b, self._t(timeout)))

    async def list(self, *, state: State | str | None = None,
                   kind: str | None = None, limit: int = 100,
                   cursor: int = 0,
                   timeout: float | None = DEFAULT) -> Page:
        """One page of jobs, newest first."""
        m, b = env.build(env.list_request, state, kind, limit, cursor)
        return env.list_reply(await self._call(m, b, self._t(timeout)))

    async def list_all(self, *, state: State | str | None = None,
                       kind: str | None = None, limit: int = 100,
                       timeout: float | None = DEFAULT
                       ) -> AsyncIterator[Job]:
        """Every job (of ``state``, of ``kind``), following the cursors."""
        cursor = 0
        while True:
            page = await self.list(state=state, kind=kind, limit=limit,
                                   cursor=cursor, timeout=timeout)
            for job in page.jobs:
                yield job
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def stats(self, *, timeout: float | None = DEFAULT) -> Stats:
        """The daemon's counters."""
        m, b = env.stats_request()
        return env.stats_reply(await self._call(m, b, self._t(timeout)))

    async def kinds(self, *, timeout: float | None = DEFAULT
                    ) -> builtins.list[Kind]:
        """The job kinds the daemon runs."""
        m, b = env.kinds_request()
        return env.kinds_reply(await self._call(m, b, self._t(timeout)))

    async def retry(self, id: int, *,
                    timeout: float | None = DEFAULT) -> Job:
        """Put a failed or cancelled job back in the queue (see
        :meth:`jobd.Client.retry`)."""
        m, b = env.build(env.retry_request, id)
        return env.retry_reply(await self._call(m, b, self._t(timeout)))

    async def pause(self, kind: str, *,
                    timeout: float | None = DEFAULT) -> bool:
        """Pause a kind; True if it was not paused (see
        :meth:`jobd.Client.pause`)."""
        m, b = env.build(env.pause_request, kind)
        return env.pause_reply(await self._call(m, b, self._t(timeout)))

    async def resume(self, kind: str, *,
                     timeout: float | None = DEFAULT) -> bool:
        """Resume a paused kind; True if it was paused."""
        m, b = env.build(env.resume_request, kind)
        return env.resume_reply(await self._call(m, b, self._t(timeout)))

    async def schedules(self, *, timeout: float | None = DEFAULT
                        ) -> builtins.list[Schedule]:
        """The periodic jobs the operator declared, with their next
        firing."""
        m, b = env.schedules_request()
        return env.schedules_reply(await self._call(m, b, self._t(timeout)))

    async def ping(self, payload: bytes = b"", *,
                   timeout: float | None = DEFAULT) -> Pong:
        """Ping: the payload echoed, the daemon's version and clock."""
        m, b = env.build(env.ping_request, payload)
        return env.ping_reply(await self._call(m, b, self._t(timeout)))

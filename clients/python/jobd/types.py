"""The plain Python values the client answers with and takes.

Ids and counters are ``int``; times are UTC-aware ``datetime`` (``None``
where the wire says 0, "not yet"); states are the :class:`State` enum;
inputs, results and payloads are ``bytes``; repeated fields are tuples.
All are frozen dataclasses.

Times the client takes (``run_at``) must be timezone-aware: a naive
``datetime`` has no single meaning (the caller's local time? UTC? the
daemon's?), so :class:`JobSpec` refuses it with ``TypeError`` rather than
guess. :class:`JobSpec` checks its scheduling arguments when it is made,
so a mistake raises ``TypeError`` / ``ValueError`` at the call, before
anything is sent; what only the daemon can judge (a time too far ahead,
``run_at`` and ``delay`` together, an unknown ``after`` id) is its answer.
"""
from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta


class State(enum.Enum):
    """A job's state (jobd.v1.JobState, without UNSPECIFIED)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SCHEDULED = "scheduled"
    """Waits for its ``run_at``: a delayed job, or a failed attempt waiting
    out its retry backoff."""

    @property
    def ended(self) -> bool:
        """True for SUCCEEDED, FAILED and CANCELLED."""
        return self in (State.SUCCEEDED, State.FAILED, State.CANCELLED)


class ParamType(enum.Enum):
    """The type of a kind's parameter (jobd.v1.Param.Type)."""

    UNSPECIFIED = ""
    INT = "int"
    STRING = "string"
    BOOL = "bool"
    CHOICE = "choice"


@dataclass(frozen=True)
class Job:
    """A job as jobd stores it (jobd.v1.Job)."""

    id: int
    kind: str
    params: dict[str, str]
    priority: int
    state: State
    attempts: int
    max_attempts: int
    timeout_ms: int
    progress_done: int
    progress_total: int
    result: bytes
    error: str
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    idempotency_key: str
    input_size: int
    waiting: str
    """Queued: why it does not start when a worker is free ("" = nothing
    holds it), e.g. ``"kind paused"`` or ``"after job 12"``."""
    run_at: datetime | None = None
    """Not to start before this time (set while ``SCHEDULED``)."""
    after: tuple[int, ...] = ()
    """The ids of the jobs it runs after: each must succeed first."""
    reruns: int = 0
    """Times :meth:`Client.retry` put it back in the queue."""
    history: tuple[Run, ...] = ()
    """Its earlier runs, oldest first (get, wait, cancel, retry; empty in
    list and submit answers)."""
    unique_key: str | None = None
    """The key it was submitted with as ``unique_key`` (None: none)."""


@dataclass(frozen=True)
class Run:
    """One earlier run of a job that :meth:`Client.retry` put back in the
    queue (jobd.v1.Run): how it ended (FAILED or CANCELLED), its error,
    the attempts it made, when it started and finished."""

    state: State
    error: str
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class Submitted:
    """The answer to a submit: the job, and whether its key matched an
    earlier job (then ``job`` is that job): the same ``idempotency_key``
    for ever, or the same ``unique_key`` while that job is scheduled,
    queued or running."""

    job: Job
    existing: bool


@dataclass(frozen=True)
class JobSpec:
    """One job of :meth:`Client.submit_batch`; the fields are
    :meth:`Client.submit`'s arguments. ``job_timeout`` is in seconds
    (None: none). Without ``idempotency_key`` the client makes a random one.

    ``run_at`` (an aware ``datetime``) or ``delay`` (seconds, or a
    ``timedelta``): not to run before then. ``after``: jobs (ids or
    :class:`Job` objects) that must succeed first; kept as a tuple of ids.
    ``unique_key``: while a job with this key is scheduled, queued or
    running, submitting it again answers that job.

    Raises ``TypeError`` for a naive ``run_at`` or a value of the wrong
    type, ``ValueError`` for a negative ``delay`` or ``after`` id."""

    kind: str
    params: dict[str, str] = field(default_factory=dict)
    input: bytes = b""
    priority: int = 0
    job_timeout: float | None = None
    max_attempts: int = 1
    idempotency_key: str | None = None
    run_at: datetime | None = None
    delay: float | timedelta | None = None
    after: Iterable[int | Job] = ()
    unique_key: str | None = None

    def __post_init__(self) -> None:
        check_run_at(self.run_at)
        check_delay(self.delay)
        object.__setattr__(self, "after", after_ids(self.after))
        if self.unique_key is not None and not isinstance(self.unique_key,
                                                          str):
            raise TypeError(f"unique_key must be a str, not "
                            f"{type(self.unique_key).__name__}")


def check_run_at(t: object) -> None:
    """None, or a timezone-aware datetime; TypeError otherwise."""
    if t is None:
        return
    if not isinstance(t, datetime):
        raise TypeError(f"run_at must be a timezone-aware datetime, not "
                        f"{type(t).__name__}")
    if t.tzinfo is None or t.utcoffset() is None:
        raise TypeError(
            f"run_at {t.isoformat()} is a naive datetime: give it a time "
            "zone (datetime.now(timezone.utc) + timedelta(minutes=5), or "
            "t.astimezone() for local time)")


def check_delay(d: object) -> None:
    """None, seconds (int or float) or a timedelta, not negative."""
    if d is None:
        return
    if isinstance(d, timedelta):
        if d < timedelta(0):
            raise ValueError(f"delay {d} is negative")
        return
    if isinstance(d, bool) or not isinstance(d, (int, float)):
        raise TypeError(f"delay must be seconds (int or float) or a "
                        f"timedelta, not {type(d).__name__}")
    if math.isnan(d) or d < 0 or math.isinf(d):
        raise ValueError(f"delay {d} is not a number of seconds >= 0")


def after_ids(after: object) -> tuple[int, ...]:
    """The ids of ``after``: an iterable of ints and :class:`Job` objects
    (not a str or a lone int)."""
    if isinstance(after, (str, bytes, int, Job)) or \
            not isinstance(after, Iterable):
        raise TypeError(f"after must be an iterable of job ids or Jobs, "
                        f"not {type(after).__name__}")
    ids = []
    for a in after:
        if isinstance(a, Job):
            a = a.id
        if isinstance(a, bool) or not isinstance(a, int):
            raise TypeError(f"after: {a!r} is not a job id (int) or a Job")
        if a < 0:
            raise ValueError(f"after: job id {a} is negative")
        ids.append(a)
    return tuple(ids)


@dataclass(frozen=True)
class GetResult:
    """The answer to get_many: the jobs found and the ids not found."""

    jobs: list[Job]
    missing: list[int]


@dataclass(frozen=True)
class Page:
    """One page of list: newest first; ``next_cursor`` 0 = the last page."""

    jobs: list[Job]
    next_cursor: int


@dataclass(frozen=True)
class Stats:
    """The daemon's counters (every field of jobd.v1.StatsReply)."""

    workers: int
    busy_workers: int
    queued: int
    running: int
    succeeded: int
    failed: int
    cancelled: int
    max_queue: int
    uptime_ms: int
    submitted: int
    retried: int
    recovered: int
    version: str
    waiting_kind: int
    connections: int
    parked_calls: int
    dropped_replies: int
    refused_calls: int
    commits: int
    scheduled: int
    """Jobs scheduled (delayed, or waiting out a retry backoff)."""
    paused_kinds: tuple[str, ...]
    """The kinds paused (:meth:`Client.pause`), by name."""
    finished_recent: tuple[int, ...]
    """Jobs ended in each of the last intervals of
    ``finished_recent_step_ms``, oldest first, the current one last."""
    finished_recent_step_ms: int


@dataclass(frozen=True)
class Param:
    """A parameter of a kind (jobd.v1.Param)."""

    name: str
    type: ParamType
    required: bool
    min: int
    max: int
    default_value: str
    description: str
    choices: list[str]


@dataclass(frozen=True)
class Kind:
    """A job kind the daemon runs (jobd.v1.Kind)."""

    name: str
    description: str
    params: list[Param]
    uses_input: bool
    origin: str
    source: str
    concurrency: int
    max_input: int
    paused: bool = False
    """Paused (:meth:`Client.pause`): its queued jobs do not start."""


@dataclass(frozen=True)
class Schedule:
    """A periodic job the operator declared (a ``*.schedule`` file beside
    the kind files; jobd.v1.Schedule). Each firing is an ordinary job.

    ``spec``: ``"cron 30 3 * * *"`` or ``"every 5m"``; ``time_zone``: the
    zone a cron spec's times are in; ``catch_up``: ``"one"``, ``"all"`` or
    ``"none"``, what a start after missed firings does; ``next_at``: the
    next firing; ``last_at`` and ``last_job_id``: the last firing and the
    job it made (None: none yet); ``source``: the file."""

    name: str
    kind: str
    params: dict[str, str]
    spec: str
    time_zone: str
    catch_up: str
    next_at: datetime
    last_at: datetime | None
    last_job_id: int | None
    source: str
    priority: int


@dataclass(frozen=True)
class Pong:
    """The answer to ping: the payload echoed, the daemon's version and
    clock."""

    payload: bytes
    version: str
    time: datetime


@dataclass(frozen=True)
class TLS:
    """TLS settings for ``tls+tcp://``: the CA that signed the daemon's
    certificate, an optional client certificate and key, and the name to
    check in the daemon's certificate (default: the address's host). The
    daemon's certificate is always verified."""

    ca_file: str
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None

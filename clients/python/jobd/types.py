"""The plain Python values the client answers with and takes.

Ids and counters are ``int``; times are UTC-aware ``datetime`` (``None``
where the wire says 0, "not yet"); states are the :class:`State` enum;
inputs, results and payloads are ``bytes``. All are frozen dataclasses.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class State(enum.Enum):
    """A job's state (jobd.v1.JobState, without UNSPECIFIED)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

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


@dataclass(frozen=True)
class Submitted:
    """The answer to a submit: the job, and whether its idempotency key
    matched an earlier job (then ``job`` is that job)."""

    job: Job
    existing: bool


@dataclass(frozen=True)
class JobSpec:
    """One job of :meth:`Client.submit_batch`; the fields are
    :meth:`Client.submit`'s arguments. ``job_timeout`` is in seconds
    (None: none). Without ``idempotency_key`` the client makes a random one."""

    kind: str
    params: dict[str, str] = field(default_factory=dict)
    input: bytes = b""
    priority: int = 0
    job_timeout: float | None = None
    max_attempts: int = 1
    idempotency_key: str | None = None


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

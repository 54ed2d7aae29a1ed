"""The envelope (jobd.v1.Request / Response) and the conversions between
the generated protobuf messages and the plain values of :mod:`jobd.types`.

Both clients (sync and asyncio) build each call here: a ``*_request``
function returns the method name and the serialized request message, and
the matching ``*_reply`` function turns the reply's body into plain values.
Protobuf types stop in this module.

A submit without an idempotency key gets a random one here, once per call
(``secrets.token_hex(16)``), so that a re-send after a reconnect carries
the same key and the daemon answers it with the first job.

Times go on the wire as Unix milliseconds: an aware ``run_at`` exactly
(:func:`datetime_to_ms`), a ``delay`` in seconds rounded to the nearest
millisecond; :class:`jobd.JobSpec` has checked both already.
"""
from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone

from . import errors
from ._pb import jobd_pb2 as pb
from .types import (GetResult, Job, JobSpec, Kind, Page, Param, ParamType,
                    Pong, Run, Schedule, State, Stats, Submitted)

VERSION = "0.1.0"
USER_AGENT = f"jobd-python/{VERSION}"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)

_STATE_FROM_PB = {
    pb.JOB_STATE_QUEUED: State.QUEUED,
    pb.JOB_STATE_RUNNING: State.RUNNING,
    pb.JOB_STATE_SUCCEEDED: State.SUCCEEDED,
    pb.JOB_STATE_FAILED: State.FAILED,
    pb.JOB_STATE_CANCELLED: State.CANCELLED,
    pb.JOB_STATE_SCHEDULED: State.SCHEDULED,
}
_STATE_TO_PB = {v: k for k, v in _STATE_FROM_PB.items()}
_PARAM_TYPE = {
    pb.Param.TYPE_UNSPECIFIED: ParamType.UNSPECIFIED,
    pb.Param.TYPE_INT: ParamType.INT,
    pb.Param.TYPE_STRING: ParamType.STRING,
    pb.Param.TYPE_BOOL: ParamType.BOOL,
    pb.Param.TYPE_CHOICE: ParamType.CHOICE,
}


# --- times ---------------------------------------------------------------

def ms_to_datetime(ms: int) -> datetime | None:
    """Unix milliseconds to a UTC datetime; 0 ("not yet") to None."""
    return EPOCH + ms * _MS if ms else None


def datetime_to_ms(t: datetime | None) -> int:
    """The inverse of :func:`ms_to_datetime`, exact to the millisecond."""
    return 0 if t is None else (t - EPOCH) // _MS


def delay_to_ms(d: float | timedelta | None) -> int:
    """A submit's ``delay`` (seconds or a timedelta) in whole
    milliseconds, rounded to the nearest; None is 0 ("now")."""
    if d is None:
        return 0
    if isinstance(d, timedelta):
        return round(d / _MS)
    return int(round(d * 1000))


def deadline_ms(timeout: float | None) -> int:
    """A call's timeout in seconds as the envelope's deadline_ms (0: none;
    a positive timeout is at least 1 ms)."""
    if timeout is None:
        return 0
    if timeout != timeout or timeout < 0:
        raise errors.InvalidArgument(f"timeout {timeout} is not >= 0")
    return max(1, min(int(round(timeout * 1000)), 86400000))


# --- the envelope --------------------------------------------------------

def envelope(method: str, body: bytes, deadline: int,
             token: str | None) -> bytes:
    """A serialized jobd.v1.Request. Raises ResourceExhausted when it is
    larger than jobd takes (it is then not sent)."""
    from ._framing import MAX_REQUEST
    req = pb.Request(method=method, body=body, deadline_ms=deadline)
    req.metadata["user-agent"] = USER_AGENT
    if token is not None:
        req.metadata["authorization"] = f"Bearer {token}"
    data = req.SerializeToString()
    if len(data) > MAX_REQUEST:
        raise errors.ResourceExhausted(
            f"{method} request of {len(data)} bytes is larger than jobd's "
            f"limit of {MAX_REQUEST}; not sent")
    return data


def open_response(data: bytes) -> bytes:
    """The body of a serialized jobd.v1.Response; its error as an
    exception when the code is not OK."""
    resp = pb.Response()
    try:
        resp.ParseFromString(data)
    except Exception as e:  # protobuf's DecodeError
        raise errors.DataLoss(f"cannot parse the daemon's reply: {e}") \
            from None
    if resp.code != 0:
        raise errors.error_for(resp.code, resp.message)
    return resp.body


def _parse(cls, data: bytes):
    msg = cls()
    try:
        msg.ParseFromString(data)
    except Exception as e:
        raise errors.DataLoss(
            f"cannot parse the daemon's {cls.__name__}: {e}") from None
    return msg


# --- conversions ---------------------------------------------------------

def job_from_pb(j) -> Job:
    """A jobd.v1.Job as a :class:`Job`."""
    return Job(
        id=j.id, kind=j.kind, params=dict(j.params), priority=j.priority,
        state=_STATE_FROM_PB.get(j.state, State.QUEUED),
        attempts=j.attempts, max_attempts=j.max_attempts,
        timeout_ms=j.timeout_ms, progress_done=j.progress_done,
        progress_total=j.progress_total, result=bytes(j.result),
        error=j.error, created_at=ms_to_datetime(j.created_at_ms),
        started_at=ms_to_datetime(j.started_at_ms),
        finished_at=ms_to_datetime(j.finished_at_ms),
        idempotency_key=j.idempotency_key, input_size=j.input_size,
        waiting=j.waiting, run_at=ms_to_datetime(j.run_at_ms),
        after=tuple(j.after), reruns=j.reruns,
        history=tuple(run_from_pb(r) for r in j.history),
        unique_key=j.unique_key or None)


def run_from_pb(r) -> Run:
    """A jobd.v1.Run as a :class:`Run`."""
    return Run(state=_STATE_FROM_PB.get(r.state, State.FAILED),
               error=r.error, attempts=r.attempts,
               started_at=ms_to_datetime(r.started_at_ms),
               finished_at=ms_to_datetime(r.finished_at_ms))


def state_to_pb(state: State | str | None) -> int:
    if state is None:
        return pb.JOB_STATE_UNSPECIFIED
    try:
        return _STATE_TO_PB[State(state)]
    except ValueError:
        raise errors.InvalidArgument(
            f"state '{state}' is not one of "
            f"{', '.join(s.value for s in State)}") from None


def _timeout_ms(seconds: float | None) -> int:
    if seconds is None:
        return 0
    if seconds != seconds or seconds < 0:
        raise errors.InvalidArgument(
            f"job_timeout {seconds} is not >= 0 seconds")
    return int(round(seconds * 1000))


def _submit_pb(spec: JobSpec, msg) -> None:
    msg.kind = spec.kind
    for k, v in (spec.params or {}).items():
        msg.params[k] = v
    msg.input = bytes(spec.input)
    msg.priority = spec.priority
    msg.timeout_ms = _timeout_ms(spec.job_timeout)
    msg.max_attempts = spec.max_attempts
    msg.idempotency_key = (spec.idempotency_key
                           if spec.idempotency_key is not None
                           else secrets.token_hex(16))
    if spec.run_at is not None:
        msg.run_at_ms = datetime_to_ms(spec.run_at)
    msg.delay_ms = delay_to_ms(spec.delay)
    msg.after.extend(spec.after)
    msg.unique_key = spec.unique_key or ""


def _submitted(r) -> Submitted:
    return Submitted(job=job_from_pb(r.job), existing=r.existing)


# --- one pair of functions per method ------------------------------------

def submit_request(spec: JobSpec) -> tuple[str, bytes]:
    msg = pb.SubmitRequest()
    _submit_pb(spec, msg)
    return "Submit", msg.SerializeToString()


def submit_reply(data: bytes) -> Submitted:
    return _submitted(_parse(pb.SubmitReply, data))


def submit_batch_request(specs: Iterable[JobSpec]) -> tuple[str, bytes]:
    msg = pb.SubmitBatchRequest()
    for spec in specs:
        _submit_pb(spec, msg.jobs.add())
    return "SubmitBatch", msg.SerializeToString()


def submit_batch_reply(data: bytes) -> list[Submitted]:
    return [_submitted(r) for r in _parse(pb.SubmitBatchReply, data).jobs]


def get_request(ids: Iterable[int]) -> tuple[str, bytes]:
    return "Get", pb.GetRequest(ids=list(ids)).SerializeToString()


def get_reply(data: bytes) -> GetResult:
    r = _parse(pb.GetReply, data)
    return GetResult(jobs=[job_from_pb(j) for j in r.jobs],
                     missing=list(r.missing))


def get_one(data: bytes, job_id: int) -> Job:
    r = get_reply(data)
    for j in r.jobs:
        if j.id == job_id:
            return j
    raise errors.NotFound(f"job {job_id} not found")


def wait_request(job_id: int) -> tuple[str, bytes]:
    return "Wait", pb.WaitRequest(id=job_id).SerializeToString()


def wait_reply(data: bytes) -> Job:
    return job_from_pb(_parse(pb.WaitReply, data).job)


def cancel_request(job_id: int) -> tuple[str, bytes]:
    return "Cancel", pb.CancelRequest(id=job_id).SerializeToString()


def cancel_reply(data: bytes) -> Job:
    return job_from_pb(_parse(pb.CancelReply, data).job)


def list_request(state: State | str | None, kind: str | None, limit: int,
                 cursor: int) -> tuple[str, bytes]:
    msg = pb.ListRequest(state=state_to_pb(state), kind=kind or "",
                         limit=limit, cursor=cursor)
    return "List", msg.SerializeToString()


def list_reply(data: bytes) -> Page:
    r = _parse(pb.ListReply, data)
    return Page(jobs=[job_from_pb(j) for j in r.jobs],
                next_cursor=r.next_cursor)


def stats_request() -> tuple[str, bytes]:
    return "Stats", b""


def stats_reply(data: bytes) -> Stats:
    r = _parse(pb.StatsReply, data)
    fields = {f.name: getattr(r, f.name)
              for f in pb.StatsReply.DESCRIPTOR.fields}
    fields["paused_kinds"] = tuple(r.paused_kinds)
    fields["finished_recent"] = tuple(r.finished_recent)
    return Stats(**fields)


def kinds_request() -> tuple[str, bytes]:
    return "Kinds", b""


def kinds_reply(data: bytes) -> list[Kind]:
    r = _parse(pb.KindsReply, data)
    return [Kind(name=k.name, description=k.description,
                 params=[Param(name=p.name,
                               type=_PARAM_TYPE.get(p.type,
                                                    ParamType.UNSPECIFIED),
                               required=p.required, min=p.min, max=p.max,
                               default_value=p.default_value,
                               description=p.description,
                               choices=list(p.choices)) for p in k.params],
                 uses_input=k.uses_input, origin=k.origin, source=k.source,
                 concurrency=k.concurrency, max_input=k.max_input,
                 paused=k.paused)
            for k in r.kinds]


def retry_request(job_id: int) -> tuple[str, bytes]:
    return "Retry", pb.RetryRequest(id=job_id).SerializeToString()


def retry_reply(data: bytes) -> Job:
    return job_from_pb(_parse(pb.RetryReply, data).job)


def _kind_name(kind: str) -> str:
    if not isinstance(kind, str):
        raise TypeError(f"kind must be a str, not {type(kind).__name__}")
    return kind


def pause_request(kind: str) -> tuple[str, bytes]:
    return "Pause", pb.PauseRequest(kind=_kind_name(kind)).SerializeToString()


def pause_reply(data: bytes) -> bool:
    return _parse(pb.PauseReply, data).changed


def resume_request(kind: str) -> tuple[str, bytes]:
    return "Resume", pb.ResumeRequest(
        kind=_kind_name(kind)).SerializeToString()


def resume_reply(data: bytes) -> bool:
    return _parse(pb.ResumeReply, data).changed


def schedules_request() -> tuple[str, bytes]:
    return "Schedules", b""


def schedules_reply(data: bytes) -> list[Schedule]:
    r = _parse(pb.SchedulesReply, data)
    return [Schedule(name=s.name, kind=s.kind, params=dict(s.params),
                     spec=s.spec, time_zone=s.time_zone,
                     catch_up=s.catch_up,
                     next_at=EPOCH + s.next_at_ms * _MS,
                     last_at=ms_to_datetime(s.last_at_ms),
                     last_job_id=s.last_job_id or None, source=s.source,
                     priority=s.priority)
            for s in r.schedules]


def ping_request(payload: bytes) -> tuple[str, bytes]:
    return "Ping", pb.PingRequest(payload=bytes(payload)).SerializeToString()


def ping_reply(data: bytes) -> Pong:
    r = _parse(pb.PingReply, data)
    return Pong(payload=bytes(r.payload), version=r.version,
                time=EPOCH + r.time_ms * _MS)


def spec(kind: str, params: Mapping[str, str] | None, input: bytes,
         priority: int, job_timeout: float | None, max_attempts: int,
         idempotency_key: str | None, run_at: datetime | None = None,
         delay: float | timedelta | None = None,
         after: Iterable[int | Job] = (),
         unique_key: str | None = None) -> JobSpec:
    """The JobSpec of a submit's arguments; TypeError or ValueError (from
    JobSpec's checks) for a naive run_at, a negative delay, a bad after."""
    return JobSpec(kind=kind, params=dict(params or {}), input=input,
                   priority=priority, job_timeout=job_timeout,
                   max_attempts=max_attempts,
                   idempotency_key=idempotency_key, run_at=run_at,
                   delay=delay, after=after, unique_key=unique_key)


def build(fn, *args) -> tuple[str, bytes]:
    """Run a ``*_request`` function; a value protobuf refuses (a negative
    id, a str where bytes are due) becomes InvalidArgument."""
    try:
        return fn(*args)
    except (ValueError, TypeError) as e:
        raise errors.InvalidArgument(f"{fn.__name__[:-8]}: {e}") from None

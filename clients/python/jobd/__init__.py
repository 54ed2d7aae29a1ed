"""jobd: the Python client of the jobd job server.

::

    import jobd
    with jobd.Client("tcp://127.0.0.1:7077") as c:
        s = c.submit("count", {"n": "1000"})
        job = c.wait(s.job.id)
        print(job.state, job.result)

        # scheduling: a time, a dependency, a unique key, a pause, reruns
        from datetime import datetime, timedelta, timezone
        at = datetime.now(timezone.utc) + timedelta(minutes=10)
        first = c.submit("count", {"n": "5"}, run_at=at).job
        c.submit("sha256", input=b"x", after=[first], unique_key="digest")
        c.pause("count"); c.resume("count")
        for j in c.list(state=jobd.State.FAILED).jobs:  # the dead letters
            c.retry(j.id)

:class:`Client` blocks and is safe to share between threads;
:class:`jobd.aio.Client` has the same methods as coroutines. Both speak
nng's SP REQ protocol themselves (pure Python, standard library only; see
:mod:`jobd._framing` for why and how) over ``tcp://``, ``tls+tcp://`` and
``ipc://``, keep many calls in flight on one connection, redial by
themselves and re-send the calls in flight after a reconnect (a submit
keeps its idempotency key, so a re-send answers the first job).

Errors are exceptions, one per gRPC code (:class:`NotFound`,
:class:`InvalidArgument`, ...), all subclasses of :class:`Error`.
"""
from . import aio
from ._client import Client
from ._envelope import VERSION as __version__
from .errors import (Aborted, AlreadyExists, Cancelled, Code, DataLoss,
                     DeadlineExceeded, Error, FailedPrecondition, Internal,
                     InvalidArgument, NotFound, OutOfRange, PermissionDenied,
                     ResourceExhausted, Unauthenticated, Unavailable,
                     Unimplemented, Unknown)
from .types import (TLS, GetResult, Job, JobSpec, Kind, Page, Param,
                    ParamType, Pong, Run, Schedule, State, Stats, Submitted)

__all__ = [
    "Client", "aio", "__version__",
    "Job", "JobSpec", "Submitted", "GetResult", "Page", "Stats", "Kind",
    "Param", "ParamType", "Pong", "State", "TLS", "Run", "Schedule",
    "Code", "Error", "Cancelled", "Unknown", "InvalidArgument",
    "DeadlineExceeded", "NotFound", "AlreadyExists", "PermissionDenied",
    "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange",
    "Unimplemented", "Internal", "Unavailable", "DataLoss",
    "Unauthenticated",
]

"""The client's own tests beyond the conformance table: the framing (split
reads, replies out of order), threads sharing one client, conversions,
exceptions, the ``with`` statement, limits the client enforces itself,
reconnects across restarts, TLS and peers that are not jobd. Every test
that needs a daemon starts a real jobd."""
from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import struct
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

import jobd
from harness import Daemon, conformance_dir, running
from jobd import _envelope as env
from jobd import _framing as fr
from jobd._pb import jobd_pb2 as pb

LONG = {"n": "100000000000"}  # a count job that runs until cancelled


@pytest.fixture
def daemon() -> Iterator[Daemon]:
    with running("plain") as d:
        yield d


@pytest.fixture
def client(daemon: Daemon) -> Iterator[jobd.Client]:
    with jobd.Client(daemon.address) as c:
        yield c


# --- framing -------------------------------------------------------------

def reply_frame(rid: int, body: bytes, ipc: bool) -> bytes:
    return (b"\x01" if ipc else b"") + struct.pack(">QI", 4 + len(body),
                                                   rid) + body


@pytest.mark.parametrize("ipc", [False, True])
def test_decoder_split_reads(ipc: bool) -> None:
    stream = (reply_frame(0x80000002, b"second", ipc)
              + reply_frame(0x80000001, b"", ipc)
              + reply_frame(0x80000003, b"x" * 70000, ipc))
    d = fr.Decoder(ipc)
    got = []
    for i in range(len(stream)):  # one byte at a time
        got += d.feed(stream[i:i + 1])
    assert got == [(0x80000002, b"second"), (0x80000001, b""),
                   (0x80000003, b"x" * 70000)]
    d2 = fr.Decoder(ipc)  # all at once
    assert d2.feed(stream) == got


def test_decoder_refuses() -> None:
    with pytest.raises(fr.ProtocolError, match="type 2"):
        fr.Decoder(True).feed(b"\x02" + bytes(12))
    with pytest.raises(fr.ProtocolError, match="no request id"):
        fr.Decoder(False).feed(struct.pack(">Q", 3) + b"abc")
    d = fr.Decoder(False, max_reply=100)
    assert d.feed(struct.pack(">Q", 101)) == []  # the id is not there yet
    with pytest.raises(fr.ReplyTooLarge) as e:
        d.feed(struct.pack(">I", 0x80000007))
    assert e.value.req_id == 0x80000007 and e.value.length == 101


def test_headers_and_addresses() -> None:
    assert fr.sp_header() == b"\x00SP\x00\x00\x30\x00\x00"
    assert fr.check_peer_header(b"\x00SP\x00\x00\x31\x00\x00") is None
    assert "not REP" in fr.check_peer_header(b"\x00SP\x00\x00\x30\x00\x00")
    assert "not an SP peer" in fr.check_peer_header(b"HTTP/1.1")
    assert fr.frame(0x80000001, b"ab", True) == \
        b"\x01" + struct.pack(">QI", 6, 0x80000001) + b"ab"
    a = fr.parse_address("tls+tcp://localhost:7077")
    assert (a.scheme, a.host, a.port) == ("tls+tcp", "localhost", 7077)
    assert fr.parse_address("ipc:///tmp/x.sock").path == "/tmp/x.sock"
    for bad in ("127.0.0.1:7077", "http://x:1", "tcp://x", "tcp://x:99999"):
        with pytest.raises(ValueError):
            fr.parse_address(bad)
    assert fr.request_id(5) == 0x80000005
    assert fr.request_id(0x7FFFFFFF + 1) == 0x80000000


def test_replies_out_of_order_on_the_wire(daemon: Daemon) -> None:
    """Two requests on one raw connection: jobd answers the later Ping
    before the earlier Wait; the bytes are read one at a time."""
    with jobd.Client(daemon.address) as c:
        long_id = c.submit("count", LONG).job.id
    host, port = daemon.address[len("tcp://"):].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(fr.sp_header())
        head = b""
        while len(head) < 8:
            head += s.recv(8 - len(head))
        assert fr.check_peer_header(head) is None
        wait = env.envelope(*env.wait_request(long_id), 1500, None)
        ping = env.envelope(*env.ping_request(b"first"), 0, None)
        s.sendall(fr.frame(0x80000011, wait, False)
                  + fr.frame(0x80000012, ping, False))
        d = fr.Decoder(False)
        got: list[tuple[int, bytes]] = []
        while len(got) < 2:
            b = s.recv(1)
            assert b, "jobd closed the connection"
            got += d.feed(b)
    assert [rid for rid, _ in got] == [0x80000012, 0x80000011]
    assert env.ping_reply(env.open_response(got[0][1])).payload == b"first"
    with pytest.raises(jobd.DeadlineExceeded):
        env.open_response(got[1][1])
    with jobd.Client(daemon.address) as c:
        assert c.cancel(long_id).state is jobd.State.CANCELLED


# --- threads, one client -------------------------------------------------

def test_many_threads_one_client(client: jobd.Client) -> None:
    errors: list[BaseException] = []
    ids: list[int] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        try:
            for i in range(20):
                p = f"t{n}-{i}".encode()
                assert client.ping(p).payload == p
                s = client.submit("sha256", input=p)
                with lock:
                    ids.append(s.job.id)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(set(ids)) == 16 * 20
    r = client.get_many(ids[:1000])
    assert len(r.jobs) == 320 and r.missing == []
    assert client.stats().submitted == 320


def test_calls_in_flight_at_once(client: jobd.Client) -> None:
    """A Wait without deadline in one thread does not hold up the others."""
    long_id = client.submit("count", LONG).job.id
    result: list[jobd.Job] = []
    t = threading.Thread(target=lambda: result.append(client.wait(long_id)))
    t.start()
    for _ in range(10):
        client.ping()
    assert not result
    client.cancel(long_id)
    t.join(timeout=30)
    assert result and result[0].state is jobd.State.CANCELLED


def test_aio_gather_one_connection(daemon: Daemon) -> None:
    async def main() -> None:
        async with jobd.aio.Client(daemon.address) as c:
            pongs = await asyncio.gather(*(c.ping(str(i).encode())
                                           for i in range(200)))
            assert [p.payload for p in pongs] == \
                [str(i).encode() for i in range(200)]
            jobs = [j async for j in c.list_all()]
            assert jobs == []
    asyncio.run(main())


# --- conversions ---------------------------------------------------------

def test_job_conversions(client: jobd.Client) -> None:
    s = client.submit("primes", {"limit": "100"}, priority=3,
                      job_timeout=1.5, max_attempts=2,
                      idempotency_key="conv-1")
    assert isinstance(s, jobd.Submitted) and s.existing is False
    j = s.job
    assert isinstance(j.id, int) and j.id > 0
    assert j.params == {"limit": "100"} and j.priority == 3
    assert j.timeout_ms == 1500 and j.max_attempts == 2
    assert j.idempotency_key == "conv-1"
    assert isinstance(j.created_at, datetime)
    assert j.created_at.tzinfo is not None
    assert abs(j.created_at - datetime.now(timezone.utc)) < timedelta(
        minutes=5)
    done = client.wait(j.id, timeout=30)
    assert done.state is jobd.State.SUCCEEDED and done.state.ended
    assert done.result == b"25" and isinstance(done.result, bytes)
    assert done.started_at is not None and done.finished_at is not None
    assert done.finished_at >= done.started_at
    q = client.submit("count", LONG).job
    assert client.cancel(q.id).state is jobd.State.CANCELLED
    with pytest.raises(dataclasses_frozen()):
        done.state = jobd.State.FAILED  # type: ignore[misc]
    page = client.list(state=jobd.State.SUCCEEDED)
    assert [x.id for x in page.jobs] == [j.id] and page.next_cursor == 0
    assert client.list(state="cancelled").jobs[0].id == q.id
    with pytest.raises(jobd.InvalidArgument, match="state 'bogus'"):
        client.list(state="bogus")


def dataclasses_frozen() -> type[Exception]:
    import dataclasses
    return dataclasses.FrozenInstanceError


def test_time_conversions() -> None:
    for ms in (1, 1733456789123, 4102444800000):
        t = env.ms_to_datetime(ms)
        assert t is not None and t.tzinfo is timezone.utc
        assert env.datetime_to_ms(t) == ms
    assert env.ms_to_datetime(0) is None and env.datetime_to_ms(None) == 0
    assert env.deadline_ms(None) == 0 and env.deadline_ms(0.0001) == 1
    assert env.deadline_ms(2.5) == 2500


# --- scheduling: arguments, conversions ----------------------------------

UTC = timezone.utc


def submit_pb(**kw) -> "pb.SubmitRequest":
    _, body = env.submit_request(jobd.JobSpec(kind="count", **kw))
    msg = pb.SubmitRequest()
    msg.ParseFromString(body)
    return msg


def test_submit_scheduling_fields_on_the_wire() -> None:
    at = datetime(2031, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)
    m = submit_pb(run_at=at, after=[3, 4], unique_key="u")
    assert m.run_at_ms == 1927857906789 and m.delay_ms == 0
    assert list(m.after) == [3, 4] and m.unique_key == "u"
    # another zone: the same instant
    plus1 = timezone(timedelta(hours=1))
    assert submit_pb(run_at=at.astimezone(plus1)).run_at_ms == m.run_at_ms
    # before 1970 goes on the wire as it is: the daemon judges it
    assert submit_pb(run_at=datetime(1969, 12, 31, 23, 59, 59, 999000,
                                     tzinfo=UTC)).run_at_ms == -1
    assert submit_pb(delay=1.5).delay_ms == 1500
    assert submit_pb(delay=timedelta(minutes=2)).delay_ms == 120000
    assert submit_pb(delay=0).delay_ms == 0
    assert submit_pb(delay=0.0004).delay_ms == 0  # to the nearest ms
    none = submit_pb()
    assert none.run_at_ms == 0 and none.delay_ms == 0
    assert list(none.after) == [] and none.unique_key == ""


def test_after_takes_ids_and_jobs() -> None:
    job = env.job_from_pb(pb.Job(id=41, kind="count"))
    assert isinstance(job, jobd.Job)
    spec = jobd.JobSpec(kind="count", after=[job, 7])
    assert spec.after == (41, 7)
    assert jobd.JobSpec(kind="count", after=(i for i in (1, 2))).after \
        == (1, 2)
    assert list(submit_pb(after=[job]).after) == [41]


def test_scheduling_arguments_refused_before_sending() -> None:
    naive = datetime(2030, 1, 1, 12, 0)
    with pytest.raises(TypeError, match="naive datetime"):
        jobd.JobSpec(kind="count", run_at=naive)
    with pytest.raises(TypeError, match="timezone-aware datetime"):
        jobd.JobSpec(kind="count", run_at=1893456000)  # type: ignore
    with pytest.raises(ValueError, match="negative"):
        jobd.JobSpec(kind="count", delay=timedelta(seconds=-1))
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="delay"):
            jobd.JobSpec(kind="count", delay=bad)
    for bad in (True, "5", [5]):
        with pytest.raises(TypeError, match="delay"):
            jobd.JobSpec(kind="count", delay=bad)  # type: ignore
    for bad in (5, "12", b"12", None):
        with pytest.raises(TypeError, match="after must be an iterable"):
            jobd.JobSpec(kind="count", after=bad)  # type: ignore
    for bad in (["3"], [1.0], [True], [None]):
        with pytest.raises(TypeError, match="not a job id"):
            jobd.JobSpec(kind="count", after=bad)  # type: ignore
    with pytest.raises(ValueError, match="job id -3 is negative"):
        jobd.JobSpec(kind="count", after=[-3])
    with pytest.raises(TypeError, match="unique_key"):
        jobd.JobSpec(kind="count", unique_key=5)  # type: ignore
    # the clients refuse them the same way, with nothing sent: nothing
    # listens at this address, and no Unavailable comes
    with jobd.Client("tcp://127.0.0.1:1") as c:
        with pytest.raises(TypeError, match="naive datetime"):
            c.submit("count", {"n": "1"}, run_at=naive)
        with pytest.raises(ValueError, match="negative"):
            c.submit("count", {"n": "1"}, after=[-1])

    async def aio() -> None:
        async with jobd.aio.Client("tcp://127.0.0.1:1") as c:
            with pytest.raises(TypeError, match="naive datetime"):
                await c.submit("count", {"n": "1"}, run_at=naive)
            with pytest.raises(TypeError, match="after must be"):
                await c.submit("count", {"n": "1"}, after=3)  # type: ignore
    asyncio.run(aio())


def test_scheduling_fields_from_the_wire() -> None:
    j = env.job_from_pb(pb.Job(
        id=9, kind="fail", state=pb.JOB_STATE_SCHEDULED,
        run_at_ms=1733456789123, after=[3, 5], reruns=2, unique_key="k",
        history=[pb.Run(state=pb.JOB_STATE_FAILED, error="e1", attempts=3,
                        started_at_ms=1000, finished_at_ms=2000),
                 pb.Run(state=pb.JOB_STATE_CANCELLED, error="e2")]))
    assert j.state is jobd.State.SCHEDULED and not j.state.ended
    assert j.run_at == env.ms_to_datetime(1733456789123)
    assert j.run_at is not None and j.run_at.tzinfo is UTC
    assert j.after == (3, 5) and j.reruns == 2 and j.unique_key == "k"
    assert j.history == (
        jobd.Run(state=jobd.State.FAILED, error="e1", attempts=3,
                 started_at=env.ms_to_datetime(1000),
                 finished_at=env.ms_to_datetime(2000)),
        jobd.Run(state=jobd.State.CANCELLED, error="e2", attempts=0,
                 started_at=None, finished_at=None))
    plain = env.job_from_pb(pb.Job(id=1))
    assert plain.run_at is None and plain.after == () and plain.reruns == 0
    assert plain.history == () and plain.unique_key is None
    st = env.stats_reply(pb.StatsReply(
        scheduled=4, paused_kinds=["a", "b"]).SerializeToString())
    assert st.scheduled == 4 and st.paused_kinds == ("a", "b")
    k = env.kinds_reply(pb.KindsReply(kinds=[pb.Kind(
        name="x", paused=True)]).SerializeToString())
    assert k[0].paused is True
    sc = env.schedules_reply(pb.SchedulesReply(schedules=[
        pb.Schedule(name="nightly", kind="count", params={"n": "1"},
                    spec="cron 30 3 * * *", time_zone="Europe/Paris",
                    catch_up="one", next_at_ms=1733456789000,
                    source="/k/nightly.schedule", priority=2),
        pb.Schedule(name="often", spec="every 5m", next_at_ms=5,
                    last_at_ms=4, last_job_id=77)]).SerializeToString())
    assert sc[0] == jobd.Schedule(
        name="nightly", kind="count", params={"n": "1"},
        spec="cron 30 3 * * *", time_zone="Europe/Paris", catch_up="one",
        next_at=env.ms_to_datetime(1733456789000), last_at=None,
        last_job_id=None, source="/k/nightly.schedule", priority=2)
    assert sc[1].last_at == env.ms_to_datetime(4) and sc[1].last_job_id == 77
    assert env.pause_reply(pb.PauseReply(changed=True).SerializeToString())
    assert not env.resume_reply(b"")
    assert env.state_to_pb("scheduled") == pb.JOB_STATE_SCHEDULED


def test_scheduling_against_the_daemon(client: jobd.Client) -> None:
    """The features end to end through the sync client; the conformance
    scenarios cover them call by call, for every client."""
    soon = client.submit("sha256", input=b"abc",
                         delay=timedelta(seconds=1)).job
    assert soon.state is jobd.State.SCHEDULED and soon.run_at is not None
    later = client.submit("sha256", input=b"abc",
                          run_at=datetime.now(UTC) + timedelta(hours=1),
                          unique_key="later").job
    assert later.id in [j.id for j in
                        client.list(state=jobd.State.SCHEDULED).jobs]
    dep = client.submit("primes", {"limit": "100"}, after=[soon]).job
    assert dep.after == (soon.id,)
    done = client.wait(dep.id, timeout=60)
    assert done.state is jobd.State.SUCCEEDED
    ran = client.get(soon.id)
    assert ran.started_at is not None and ran.started_at >= soon.run_at
    assert client.pause("fail") is True and client.pause("fail") is False
    st = client.stats()
    assert st.paused_kinds == ("fail",) and st.scheduled == 1
    assert {k.name: k.paused for k in client.kinds()}["fail"] is True
    with pytest.raises(jobd.NotFound):
        client.pause("nope")
    f = client.submit("fail", {"message": "x"}).job
    assert "paused" in client.get(f.id).waiting  # the wording: conformance
    assert client.resume("fail") is True
    assert client.wait(f.id, timeout=60).state is jobd.State.FAILED
    r = client.retry(f.id)
    assert r.reruns == 1 and len(r.history) == 1
    assert r.history[0].state is jobd.State.FAILED
    assert client.wait(f.id, timeout=60).reruns == 1
    with pytest.raises(jobd.FailedPrecondition):
        client.retry(dep.id)
    with pytest.raises(jobd.NotFound):
        client.retry(987654)
    assert [j.id for j in client.list(state="failed").jobs] == [f.id]
    assert client.schedules() == []
    again = client.submit("sha256", input=b"abc", unique_key="later")
    assert again.existing and again.job.id == later.id
    client.cancel(later.id)


def test_list_all_follows_cursors(client: jobd.Client) -> None:
    ids = [s.job.id for s in client.submit_batch(
        [jobd.JobSpec(kind="sha256", input=str(i).encode())
         for i in range(7)])]
    assert [j.id for j in client.list_all(limit=2)] == ids[::-1]
    assert [j.id for j in client.list_all(kind="sha256", limit=3)] == \
        ids[::-1]


def test_stats_kinds_ping(client: jobd.Client) -> None:
    st = client.stats()
    assert st.workers == 2 and "." in st.version and st.connections >= 1
    kinds = {k.name: k for k in client.kinds()}
    n = kinds["count"].params[0]
    assert n.name == "n" and n.type is jobd.ParamType.INT and n.required
    assert kinds["echo"].uses_input and kinds["echo"].origin == "program"
    p = client.ping("ünï".encode())
    assert p.payload == "ünï".encode() and p.version == st.version
    assert abs(p.time - datetime.now(timezone.utc)) < timedelta(minutes=5)


# --- exceptions ----------------------------------------------------------

def test_exceptions(client: jobd.Client) -> None:
    with pytest.raises(jobd.NotFound) as e:
        client.get(987654)
    assert e.value.code is jobd.Code.NOT_FOUND
    assert e.value.message == "job 987654 not found"
    assert str(e.value) == "NOT_FOUND: job 987654 not found"
    with pytest.raises(jobd.InvalidArgument) as e2:
        client.submit("nope")
    assert isinstance(e2.value, jobd.Error)
    assert "unknown kind 'nope'" in e2.value.message
    assert str(e2.value).startswith("INVALID_ARGUMENT: ")
    with pytest.raises(jobd.InvalidArgument):
        client.get(-1)  # not a uint64: refused by the client


def test_codes_match_the_proto() -> None:
    assert {c.name: c.value for c in jobd.Code} == \
        dict(pb.Code.items())
    for c in jobd.Code:
        if c is jobd.Code.OK:
            continue
        e = jobd.errors.error_for(c.value, "m")
        assert e.code is c and isinstance(e, jobd.Error)
        assert type(e).__name__.lower() == c.name.replace("_", "").lower()
        assert getattr(jobd, type(e).__name__) is type(e)
    assert isinstance(jobd.errors.error_for(99, "m"), jobd.Unknown)


# --- the with statement, close -------------------------------------------

def test_with_closes(daemon: Daemon) -> None:
    with jobd.Client(daemon.address) as c:
        long_id = c.submit("count", LONG).job.id
        thread = c._thread
        failed: list[BaseException] = []

        def waiter() -> None:
            try:
                c.wait(long_id)
            except BaseException as e:
                failed.append(e)
        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(0.2)
    t.join(timeout=10)
    assert not thread.is_alive()
    assert len(failed) == 1 and isinstance(failed[0], jobd.Cancelled)
    with pytest.raises(jobd.Cancelled):
        c.ping()
    c.close()  # twice is harmless
    with jobd.Client(daemon.address) as c2:
        assert c2.cancel(long_id).state is jobd.State.CANCELLED


# --- limits and errors the client makes itself ---------------------------

def test_request_over_2mib_refused_locally(client: jobd.Client) -> None:
    with pytest.raises(jobd.ResourceExhausted, match="not sent"):
        client.submit("echo", input=b"x" * (2 << 20))
    with pytest.raises(jobd.ResourceExhausted, match="not sent"):
        client.submit_batch([jobd.JobSpec(kind="echo", input=b"y" * 600000)
                             for _ in range(4)])
    st = client.stats()
    assert st.submitted == 0 and st.refused_calls == 0
    assert client.ping(b"still").payload == b"still"


def test_unavailable() -> None:
    d = Daemon("none")
    try:
        for addr in (d.address, f"ipc://{d.dir}/nothing.sock",
                     "nonsense", "tcp://127.0.0.1"):
            with jobd.Client(addr) as c:
                t0 = time.monotonic()
                with pytest.raises(jobd.Unavailable) as e:
                    c.ping()
                assert time.monotonic() - t0 < 5
                assert addr in e.value.message
    finally:
        d.cleanup()


def test_not_a_rep_peer() -> None:
    """A listener that answers with a REQ header is refused."""
    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen()
        port = ls.getsockname()[1]

        def serve() -> None:
            conn, _ = ls.accept()
            with conn:
                conn.sendall(fr.sp_header(fr.PROTO_REQ))
                conn.recv(8)
        t = threading.Thread(target=serve)
        t.start()
        with jobd.Client(f"tcp://127.0.0.1:{port}") as c:
            with pytest.raises(jobd.Unavailable, match="not REP"):
                c.ping()
        t.join(timeout=10)


def test_tls_wrong_ca() -> None:
    with running("tls") as d, running("none") as other:
        subprocess.run(["sh", str(conformance_dir() / "make-certs.sh"),
                        str(other.dir)], check=True)
        with jobd.Client(d.address, tls=jobd.TLS(
                ca_file=str(other.dir / "ca.pem"),
                server_name="localhost")) as c:
            with pytest.raises(jobd.Unavailable, match="CERTIFICATE"):
                c.ping()
        ctx = ssl.create_default_context(cafile=str(d.dir / "ca.pem"))
        with jobd.Client(d.address.replace("127.0.0.1", "localhost"),
                         tls=ctx) as c:
            assert c.ping(b"ctx").payload == b"ctx"


def test_survives_restarts(daemon: Daemon) -> None:
    """One client kept open across restarts (KILL and TERM) completes a
    call after each; a call made while jobd is away is sent once it is
    back."""
    with jobd.Client(daemon.address) as c:
        c.ping()
        for i in range(6):
            daemon.restart("KILL" if i % 2 else "TERM")
            assert c.ping(str(i).encode()).payload == str(i).encode()
        daemon.stop()
        result: list[jobd.Pong] = []
        t = threading.Thread(target=lambda: result.append(
            c.ping(b"later", timeout=20)))
        t.start()
        time.sleep(0.3)
        daemon.start()
        t.join(timeout=30)
        assert result and result[0].payload == b"later"


def test_many_resent_after_kill() -> None:
    """Ten submits in flight when jobd is killed, their replies swallowed by
    holdproxy: each is re-sent with its own key, and jobd holds ten jobs."""
    with running("proxy") as d:
        async def main() -> None:
            async with jobd.aio.Client(d.address) as c:
                await c.ping()
                d.proxy_hold()
                calls = [asyncio.create_task(c.submit(
                    "sha256", input=str(i).encode(), timeout=30))
                    for i in range(10)]
                await asyncio.to_thread(d.proxy_wait_held)
                await asyncio.to_thread(d.restart, "KILL")
                done = await asyncio.gather(*calls)
                assert any(s.existing for s in done)
                ids = {s.job.id for s in done}
                assert len(ids) == 10
                listed = [j.id async for j in c.list_all()]
                assert sorted(listed) == sorted(ids)
                for s in done:
                    j = await c.wait(s.job.id, timeout=30)
                    assert j.state is jobd.State.SUCCEEDED
        asyncio.run(asyncio.wait_for(main(), 120))

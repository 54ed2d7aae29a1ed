"""What the tests share: a real jobd started per test (the conformance
suite's daemon profiles), holdproxy, and the conversion of the client's
answers to the plain values the scenario table speaks of.

Everything the tests need comes from the environment ctest sets
(JOBD_BIN, JOBD_PROXY_BIN, JOBD_CONFORMANCE_DIR); a missing one fails the
test, never skips it. With JOBD_TEST_DB_URL set (the PostgreSQL run,
python_conformance_pg: tests/pg_cluster.sh's wrapper sets it) each daemon
gets a database of its own on that server, named as its directory, and
the node name of its directory (JOBD_NODE); the database is dropped at the
end.
"""
from __future__ import annotations

import dataclasses
import contextlib
import os
import queue
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jobd
from jobd._envelope import datetime_to_ms

TOKEN = "conformance-token-4f1d2a7c9e"
WRONG_TOKEN = "not-the-token-at-all"


def need_env(name: str) -> str:
    v = os.environ.get(name)
    assert v, f"${name} is not set (ctest sets it; see clients/CMakeLists.txt)"
    return v


def conformance_dir() -> Path:
    return Path(need_env("JOBD_CONFORMANCE_DIR"))


def pg_admin(sql: str) -> None:
    """Runs sql with psql on the PostgreSQL run's server."""
    subprocess.run([os.environ.get("JOBD_TEST_PSQL", "psql"), "-X", "-q",
                    "-v", "ON_ERROR_STOP=1",
                    "-d", os.environ["JOBD_TEST_DB_URL"], "-c", sql],
                   check=True, stdout=subprocess.DEVNULL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """A jobd of one profile in a fresh directory; the holdproxy in front
    of it for the 'proxy' profile. ``address`` and ``client_kwargs`` are
    what a client of the scenario gets."""

    def __init__(self, profile: str, client_token: str | None = None) -> None:
        self.profile = profile
        self.bin = need_env("JOBD_BIN")
        self.dir = Path(tempfile.mkdtemp(prefix="jobd-py-"))
        self.db = str(self.dir / "jobd.db")
        self.pgname = ""
        base = os.environ.get("JOBD_TEST_DB_URL")
        if base:
            self.pgname = self.dir.name
            self.db = base.rsplit("/", 1)[0] + "/" + self.pgname
            pg_admin(f'CREATE DATABASE "{self.pgname}"')
        self.proc: subprocess.Popen[bytes] | None = None
        self.proxy: subprocess.Popen[str] | None = None
        self.proxy_lines: queue.Queue[str] = queue.Queue()
        self.stopped = False
        self.opts = ["--workers", "2", "--kinds-dir",
                     str(conformance_dir() / "kinds"), "--log-level", "debug"]
        self.client_kwargs: dict[str, Any] = {}
        port = free_port()
        self.listen = f"tcp://127.0.0.1:{port}"
        if profile == "token":
            (self.dir / "token").write_text(TOKEN + "\n")
            os.chmod(self.dir / "token", 0o600)
            self.opts += ["--auth-token-file", str(self.dir / "token")]
            if client_token == "good":
                self.client_kwargs["token"] = TOKEN
            elif client_token == "wrong":
                self.client_kwargs["token"] = WRONG_TOKEN
        elif profile == "tls":
            subprocess.run(["sh", str(conformance_dir() / "make-certs.sh"),
                            str(self.dir)], check=True)
            self.listen = f"tls+tcp://127.0.0.1:{port}"
            self.opts += ["--tls-cert", str(self.dir / "server.pem"),
                          "--tls-key", str(self.dir / "server.key")]
            self.client_kwargs["tls"] = jobd.TLS(
                ca_file=str(self.dir / "ca.pem"), server_name="localhost")
        elif profile == "ipc":
            self.listen = f"ipc://{self.dir}/jobd.sock"
        elif profile == "small":
            self.opts += ["--workers", "1", "--max-queue", "1"]
        elif profile not in ("plain", "proxy", "none"):
            raise AssertionError(f"unknown daemon profile '{profile}'")
        self.address = self.listen
        if profile == "none":
            return
        self.start()
        if profile == "proxy":
            self._start_proxy(port)

    # --- the daemon ------------------------------------------------------

    def start(self) -> None:
        log = open(self.dir / "jobd.log", "ab")
        env = dict(os.environ)
        if self.pgname:
            env.setdefault("JOBD_NODE", self.pgname)
        self.proc = subprocess.Popen(
            [self.bin, "--db", self.db, "--listen",
             self.listen, *self.opts],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        log.close()
        self.stopped = False
        self.wait_ready()

    def wait_ready(self) -> None:
        """Ping over a connection of its own until it answers (10 s)."""
        end = time.monotonic() + 10
        last: Exception | None = None
        while time.monotonic() < end:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"jobd exited {self.proc.returncode} at start\n"
                    + self.log())
            try:
                kw = dict(self.client_kwargs)
                if self.profile == "token":
                    kw["token"] = TOKEN
                with jobd.Client(self.listen, timeout=2, **kw) as c:
                    c.ping()
                return
            except jobd.Error as e:
                last = e
                time.sleep(0.05)
        raise AssertionError(f"jobd did not answer a Ping in 10 s: {last}\n"
                             + self.log())

    def signal_and_wait(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"jobd did not exit within 30 s of "
                                 f"signal {sig}") from None

    def stop(self) -> None:
        """SIGTERM; it must exit 0."""
        rc = self.signal_and_wait(signal.SIGTERM)
        self.stopped = True
        assert rc == 0, f"jobd exited {rc} after SIGTERM"

    def restart(self, sig_name: str) -> None:
        sig = {"KILL": signal.SIGKILL, "TERM": signal.SIGTERM}[sig_name]
        rc = self.signal_and_wait(sig)
        if sig_name == "TERM":
            assert rc == 0, f"jobd exited {rc} after SIGTERM"
        else:
            assert rc in (137, -signal.SIGKILL), \
                f"jobd exited {rc} after SIGKILL"
        self.start()

    def log(self) -> str:
        try:
            return "--- jobd.log ---\n" + (self.dir / "jobd.log").read_text(
                errors="replace")
        except OSError:
            return "(no jobd.log)"

    # --- holdproxy -------------------------------------------------------

    def _start_proxy(self, jobd_port: int) -> None:
        self.proxy = subprocess.Popen(
            [need_env("JOBD_PROXY_BIN"), str(jobd_port)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        threading.Thread(target=self._proxy_reader, daemon=True).start()
        line = self.proxy_lines.get(timeout=10)
        assert line.startswith("port "), f"holdproxy said '{line}'"
        self.address = f"tcp://127.0.0.1:{int(line.split()[1])}"

    def _proxy_reader(self) -> None:
        assert self.proxy is not None and self.proxy.stdout is not None
        for line in self.proxy.stdout:
            self.proxy_lines.put(line.strip())

    def proxy_hold(self) -> None:
        assert self.proxy is not None, "proxy_hold without the proxy profile"
        self.proxy.send_signal(signal.SIGUSR1)

    def proxy_wait_held(self) -> None:
        end = time.monotonic() + 10
        while True:
            left = end - time.monotonic()
            assert left > 0, "holdproxy held nothing within 10 s"
            try:
                line = self.proxy_lines.get(timeout=left)
            except queue.Empty:
                continue
            if line.startswith("held "):
                return

    # --- the end ---------------------------------------------------------

    def finish(self) -> None:
        """Stop everything; the daemon must exit 0 after SIGTERM."""
        try:
            if self.proc is not None and not self.stopped:
                self.stop()
        finally:
            if self.proxy is not None:
                self.proxy.terminate()
                self.proxy.wait(timeout=10)

    def cleanup(self) -> None:
        for p in (self.proc, self.proxy):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.pgname:
            pg_admin(f'DROP DATABASE IF EXISTS "{self.pgname}" WITH (FORCE)')


@contextlib.contextmanager
def running(profile: str,
            client_token: str | None = None) -> Iterator[Daemon]:
    """A daemon for a block: it must stop cleanly (exit 0 after SIGTERM)
    when the block ends well; its log is printed when the block fails; its
    files go in any case."""
    d = Daemon(profile, client_token)
    try:
        yield d
        d.finish()
    except BaseException:
        print(d.log())
        raise
    finally:
        d.cleanup()


# --- answers as plain values ---------------------------------------------

def job_plain(j: jobd.Job) -> dict[str, Any]:
    return {"id": j.id, "kind": j.kind, "params": dict(j.params),
            "priority": j.priority, "state": j.state.value,
            "attempts": j.attempts, "max_attempts": j.max_attempts,
            "timeout_ms": j.timeout_ms, "progress_done": j.progress_done,
            "progress_total": j.progress_total, "result": j.result,
            "error": j.error, "created_at_ms": datetime_to_ms(j.created_at),
            "started_at_ms": datetime_to_ms(j.started_at),
            "finished_at_ms": datetime_to_ms(j.finished_at),
            "idempotency_key": j.idempotency_key,
            "input_size": j.input_size, "waiting": j.waiting,
            "run_at_ms": datetime_to_ms(j.run_at), "after": list(j.after),
            "reruns": j.reruns,
            "history": [{"state": r.state.value, "error": r.error,
                         "attempts": r.attempts,
                         "started_at_ms": datetime_to_ms(r.started_at),
                         "finished_at_ms": datetime_to_ms(r.finished_at)}
                        for r in j.history],
            "unique_key": j.unique_key or ""}


def plain(method: str, answer: Any) -> Any:
    """The client's answer as the conformance README's plain value."""
    def sub(s: jobd.Submitted) -> dict[str, Any]:
        return {"job": job_plain(s.job), "existing": s.existing}

    if method == "submit":
        return sub(answer)
    if method == "submit_batch":
        return {"jobs": [sub(s) for s in answer]}
    if method == "get":
        return {"jobs": [job_plain(j) for j in answer.jobs],
                "missing": list(answer.missing)}
    if method in ("wait", "cancel", "retry"):
        return job_plain(answer)
    if method in ("pause", "resume"):
        return {"changed": answer}
    if method == "schedules":
        return {"schedules": [
            {"name": s.name, "kind": s.kind, "params": dict(s.params),
             "spec": s.spec, "time_zone": s.time_zone,
             "catch_up": s.catch_up, "next_at_ms": datetime_to_ms(s.next_at),
             "last_at_ms": datetime_to_ms(s.last_at),
             "last_job_id": s.last_job_id or 0, "source": s.source,
             "priority": s.priority} for s in answer]}
    if method == "list":
        return {"jobs": [job_plain(j) for j in answer.jobs],
                "next_cursor": answer.next_cursor}
    if method == "stats":
        return dict(dataclasses.asdict(answer),
                    paused_kinds=list(answer.paused_kinds))
    if method == "kinds":
        kinds = []
        for k in answer:
            d = dataclasses.asdict(k)
            d["params"] = [dict(dataclasses.asdict(p), type=p.type.value)
                           for p in k.params]
            kinds.append(d)
        return {"kinds": kinds}
    if method == "ping":
        return {"payload": answer.payload, "version": answer.version,
                "time_ms": datetime_to_ms(answer.time)}
    raise AssertionError(f"unknown method '{method}'")

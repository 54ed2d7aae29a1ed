"""The conformance suite (clients/conformance/scenarios.json, as its
README.md says to run it), one pytest case per scenario, for the sync
client (``sync-NAME``) and for jobd.aio (``aio-NAME``).

The runner itself is asyncio code: for the sync client each call runs in
a thread (``asyncio.to_thread``), for jobd.aio it is awaited; the daemon's
operations (restart, stop, ...) run in threads so that the client's
reconnects go on meanwhile. An ``async`` step is a task, its ``await`` step
takes the task's answer.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import time
from datetime import timedelta
from typing import Any

import pytest

import jobd
from harness import Daemon, conformance_dir, plain, running
from jobd._envelope import EPOCH

SCENARIO_LIMIT_S = 180  # a scenario that hangs fails after this


def _scenarios() -> list[dict[str, Any]]:
    with open(conformance_dir() / "scenarios.json", encoding="utf-8") as f:
        return json.load(f)["scenarios"]


SCENARIOS = _scenarios()
ABSENT = object()


# --- values, paths and matching ------------------------------------------

def data(d: dict[str, Any]) -> bytes:
    if "text" in d:
        return d["text"].encode()
    return (d["repeat"] * d["times"]).encode()


def text(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def resolve(v: Any, vars: dict[str, Any]) -> Any:
    if isinstance(v, dict) and set(v) == {"var"}:
        assert v["var"] in vars, f"no saved value '{v['var']}'"
        return vars[v["var"]]
    if isinstance(v, dict) and set(v) == {"now_ms"}:
        return int(time.time() * 1000) + v["now_ms"]
    if isinstance(v, dict) and set(v) == {"join"}:
        return "".join(text(resolve(x, vars)) for x in v["join"])
    if isinstance(v, dict):
        return {k: resolve(x, vars) for k, x in v.items()}
    if isinstance(v, list):
        return [resolve(x, vars) for x in v]
    return v


def at(answer: Any, path: str) -> Any:
    if path == ".":
        return answer
    cur = answer
    for part in path.split("."):
        if part == "#":
            if not isinstance(cur, (list, dict, bytes, str)):
                return ABSENT
            cur = len(cur)
        elif isinstance(cur, list):
            if not part.isdigit() or int(part) >= len(cur):
                return ABSENT
            cur = cur[int(part)]
        elif isinstance(cur, dict):
            if part not in cur:
                return ABSENT
            cur = cur[part]
        else:
            return ABSENT
    return cur


def equal(got: Any, want: Any) -> bool:
    if isinstance(got, bytes) and isinstance(want, str):
        return got == want.encode()
    if isinstance(want, bool) or isinstance(got, bool):
        return type(got) is type(want) and got == want
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and \
            all(equal(g, w) for g, w in zip(got, want))
    if isinstance(want, dict):
        return isinstance(got, dict) and got.keys() == want.keys() and \
            all(equal(got[k], want[k]) for k in want)
    return got == want


def matches(got: Any, m: Any, vars: dict[str, Any]) -> bool:
    if isinstance(m, dict) and len(m) == 1:
        (op, arg), = m.items()
        if op in ("var", "now_ms", "join"):
            return got is not ABSENT and equal(got, resolve(m, vars))
        arg = resolve(arg, vars)
        if op == "absent":
            return (got is ABSENT) == bool(arg)
        if got is ABSENT:
            return False
        if op == "contains":
            if isinstance(got, bytes):
                return arg.encode() in got
            if isinstance(got, str):
                return arg in got
            if isinstance(got, list):
                return any(equal(x, arg) for x in got)
            return False
        if op in ("gte", "lte", "gt"):
            if not isinstance(got, (int, float)) or isinstance(got, bool):
                return False
            return {"gte": got >= arg, "lte": got <= arg,
                    "gt": got > arg}[op]
        if op == "in":
            return any(equal(got, x) for x in arg)
        if op == "sha256":
            b = got.encode() if isinstance(got, str) else got
            return isinstance(b, bytes) and \
                hashlib.sha256(b).hexdigest() == arg
    return got is not ABSENT and equal(got, resolve(m, vars))


def show(v: Any) -> str:
    if isinstance(v, bytes) and len(v) > 80:
        return f"<{len(v)} bytes>"
    if v is ABSENT:
        return "<absent>"
    s = repr(v)
    return s if len(s) < 400 else s[:400] + "..."


# --- calls ---------------------------------------------------------------

def call_args(method: str, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The client method and its keyword arguments for a step's args."""
    def submit_kw(a: dict[str, Any]) -> dict[str, Any]:
        kw: dict[str, Any] = {"kind": a["kind"]}
        if "params" in a:
            kw["params"] = a["params"]
        if "input" in a:
            kw["input"] = data(a["input"])
        for k in ("priority", "max_attempts", "idempotency_key", "after",
                  "unique_key"):
            if k in a:
                kw[k] = a[k]
        if "timeout_ms" in a:
            kw["job_timeout"] = a["timeout_ms"] / 1000
        if "run_at_ms" in a:
            kw["run_at"] = EPOCH + timedelta(milliseconds=a["run_at_ms"])
        if "delay_ms" in a:
            kw["delay"] = timedelta(milliseconds=a["delay_ms"])
        return kw

    if method == "submit":
        return "submit", submit_kw(args)
    if method == "submit_batch":
        return "submit_batch", {"jobs": [jobd.JobSpec(**submit_kw(a))
                                         for a in args["jobs"]]}
    if method == "get":
        return "get_many", {"ids": args["ids"]}
    if method in ("wait", "cancel", "retry"):
        return method, {"id": args["id"]}
    if method in ("pause", "resume"):
        return method, {"kind": args["kind"]}
    if method == "list":
        return "list", {k: args[k] for k in ("state", "kind", "limit",
                                             "cursor") if k in args}
    if method in ("stats", "kinds", "schedules"):
        return method, {}
    if method == "ping":
        return "ping", ({"payload": data(args["payload"])}
                        if "payload" in args else {})
    raise AssertionError(f"unknown method '{method}'")


class Runner:
    def __init__(self, sc: dict[str, Any], mode: str, d: Daemon) -> None:
        self.sc = sc
        self.mode = mode
        self.d = d
        self.vars: dict[str, Any] = {}
        self.handles: dict[str, asyncio.Task[Any]] = {}
        self.client: Any = None

    async def invoke(self, method: str, kw: dict[str, Any]) -> Any:
        fn = getattr(self.client, method)
        if self.mode == "sync":
            return await asyncio.to_thread(fn, **kw)
        return await fn(**kw)

    async def outcome(self, step: dict[str, Any]) -> tuple[str, Any]:
        """("OK", plain answer) or (CODE, message) of a call step."""
        args = resolve(step.get("args", {}), self.vars)
        method, kw = call_args(step["call"], args)
        if "deadline_ms" in step:
            kw["timeout"] = step["deadline_ms"] / 1000
        try:
            answer = await self.invoke(method, kw)
        except jobd.Error as e:
            return e.code.name, e.message
        return "OK", plain(step["call"], answer)

    def check(self, where: str, out: tuple[str, Any],
              step: dict[str, Any]) -> None:
        code, val = out
        exp = step["expect"]
        if code != exp["code"]:
            raise AssertionError(f"{where}: expected {exp['code']}, got "
                                 f"{code}" + (f": {val}" if code != "OK"
                                              else ""))
        if code == "OK":
            for path, m in exp.get("value", {}).items():
                got = at(val, path)
                if not matches(got, m, self.vars):
                    raise AssertionError(f"{where}: {path} is {show(got)}, "
                                         f"expected {m}")
            for name, path in step.get("save", {}).items():
                got = at(val, path)
                assert got is not ABSENT, f"{where}: nothing at {path}"
                self.vars[name] = got
        elif "message" in exp and not matches(val, exp["message"],
                                              self.vars):
            raise AssertionError(f"{where}: message '{val}' does not match "
                                 f"{exp['message']}")

    async def wait_state(self, step: dict[str, Any], where: str) -> None:
        job_id = resolve(step["id"], self.vars)
        loop = asyncio.get_running_loop()
        end = loop.time() + step["within_ms"] / 1000
        state = None
        while True:
            job = await self.invoke("get", {"id": job_id})
            state = job.state.value
            if state == step["state"]:
                return
            if loop.time() > end:
                raise AssertionError(f"{where}: job {job_id} still {state} "
                                     f"after {step['within_ms']} ms")
            await asyncio.sleep(0.02)

    async def run(self) -> None:
        kw = dict(self.d.client_kwargs)
        cls = jobd.Client if self.mode == "sync" else jobd.aio.Client
        self.client = cls(self.d.address, **kw)
        try:
            for i, step in enumerate(self.sc["steps"]):
                where = f"step {i}"
                if "call" in step:
                    where += f" ({step['call']})"
                    if "async" in step:
                        self.handles[step["async"]] = asyncio.create_task(
                            self.outcome(step))
                        continue
                    self.check(where, await self.outcome(step), step)
                elif "await" in step:
                    where += f" (await {step['await']})"
                    out = await self.handles.pop(step["await"])
                    self.check(where, out, step)
                elif step.get("op") == "wait_state":
                    await self.wait_state(step, where)
                elif step.get("op") == "restart":
                    await asyncio.to_thread(self.d.restart, step["signal"])
                elif step.get("op") == "stop":
                    await asyncio.to_thread(self.d.stop)
                elif step.get("op") == "proxy_hold":
                    self.d.proxy_hold()
                elif step.get("op") == "proxy_wait_held":
                    await asyncio.to_thread(self.d.proxy_wait_held)
                else:
                    raise AssertionError(f"{where}: unknown step {step}")
            assert not self.handles, \
                f"async calls never awaited: {list(self.handles)}"
        finally:
            for t in self.handles.values():
                t.cancel()
            if self.mode == "sync":
                await asyncio.to_thread(self.client.close)
            else:
                await self.client.close()


def run_scenario(sc: dict[str, Any], mode: str) -> None:
    with running(sc["daemon"], sc.get("client", {}).get("token")) as d:
        asyncio.run(asyncio.wait_for(Runner(sc, mode, d).run(),
                                     SCENARIO_LIMIT_S))


def test_table_is_whole() -> None:
    names = [s["name"] for s in SCENARIOS]
    assert len(names) == len(set(names)) and len(names) >= 33


@pytest.mark.parametrize("sc", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
def test_sync(sc: dict[str, Any]) -> None:
    run_scenario(sc, "sync")


@pytest.mark.parametrize("sc", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
def test_aio(sc: dict[str, Any]) -> None:
    run_scenario(sc, "aio")

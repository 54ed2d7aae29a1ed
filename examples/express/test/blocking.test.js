// blocking.test.js: the seed's problem, with jobd. A real jobd (2 workers,
// the example kinds, its own database and port) and the real server.js;
// then more /blocking requests than jobd has workers, and while they are
// in flight:
//   - /non-blocking answers, every time (its latencies are printed, as
//     figures: no millisecond bound is asserted on a shared machine);
//   - jobd's Stats show every worker busy and jobs queued: the requests jobd
//     has no worker for wait in jobd's queue;
//   - the Express process has no more threads than before, and no child
//     process: a request in flight costs a socket, not a thread;
// and then every /blocking answers with its n. Besides: a bad n is 400
// with jobd's message, a client that goes away gets its job cancelled, and
// a jobd that cannot be reached is 503.
//
// Run by ctest (label node) after `npm ci` (test express_npm_ci), with
// JOBD_BIN naming the jobd to start. EXPRESS_TEST_N (1e9: about a second
// of counting per job) sets the size of each /blocking job.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from 'jobd-client';

const here = path.dirname(fileURLToPath(import.meta.url));
const appDir = path.join(here, '..');
const kindsDir = path.join(appDir, '..', 'kinds');
const WORKERS = 2;
const BLOCKING = 6; // /blocking requests at once: three times the workers
const NON_BLOCKING = 20; // /non-blocking requests timed while they run
const N = Number(process.env.EXPRESS_TEST_N || 1e9);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let dir, jobdProc, jobdLog, jobd, server, base;

// freePort(): a TCP port of 127.0.0.1 that was free a moment ago.
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// get(path, opts): one HTTP GET on a connection of its own, as
// {status, body, ms}; opts.signal aborts it.
function get(urlPath, { signal } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.get(`${base}${urlPath}`, { agent: false, signal }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body, ms: performance.now() - t0 }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

// threads(pid): the thread count of a process, from /proc/PID/status.
function threads(pid) {
  const m = /^Threads:\s+(\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]);
}

// children(pid): the pids of the processes whose parent is pid.
function children(pid) {
  const out = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid) out.push(Number(e));
  }
  return out;
}

// until(what, fn, ms): polls fn every 20 ms until it returns a true value,
// which it returns; fails the test after ms.
async function until(what, fn, ms = 30_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) assert.fail(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
}

// startServer(env): starts server.js, resolves with its process and base
// URL once it prints where it listens.
function startServer(env) {
  const proc = spawn(process.execPath, [path.join(appDir, 'server.js')], {
    cwd: appDir,
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /listening on http:\/\/\S+:(\d+)/.exec(out);
      if (m) resolve({ proc, url: `http://127.0.0.1:${m[1]}` });
    });
    proc.on('exit', (code, sig) => reject(new Error(`server.js exited (${code ?? sig}) before listening: ${out}`)));
  });
}

async function stopProc(proc) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return null;
  const exited = new Promise((r) => proc.once('exit', (code, sig) => r(code ?? sig)));
  proc.kill('SIGTERM');
  return exited;
}

before(async () => {
  const jobdBin = process.env.JOBD_BIN;
  assert.ok(jobdBin, 'JOBD_BIN must name the jobd to start');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobd-express-'));
  const addr = `tcp://127.0.0.1:${await freePort()}`;
  jobdLog = path.join(dir, 'jobd.log');
  const log = fs.openSync(jobdLog, 'a');
  jobdProc = spawn(jobdBin, [
    '--listen', addr, '--db', path.join(dir, 'jobd.db'), '--workers', String(WORKERS),
    '--kinds-dir', kindsDir,
  ], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  jobd = new Client(addr, { timeoutMs: 5000 });
  await until('jobd answers Ping', async () => {
    if (jobdProc.exitCode !== null) assert.fail(`jobd exited: ${fs.readFileSync(jobdLog, 'utf8')}`);
    try {
      await jobd.ping();
      return true;
    } catch {
      return false;
    }
  }, 15_000);
  ({ proc: server, url: base } = await startServer({ JOBD_ADDR: addr }));
});

after(async () => {
  const serverExit = await stopProc(server);
  jobd?.close();
  const jobdExit = await stopProc(jobdProc);
  if (jobdExit !== 0 && jobdLog) console.log(`jobd exited ${jobdExit}; its log:\n${fs.readFileSync(jobdLog, 'utf8')}`);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(serverExit, 0, 'server.js exits 0 on SIGTERM');
  assert.equal(jobdExit, 0, 'jobd exits 0 on SIGTERM');
});

test('/non-blocking answers at once, /blocking answers the job\'s result', async () => {
  const r = await get('/non-blocking');
  assert.equal(r.status, 200);
  assert.equal(r.body, 'This page is non-blocking');
  const b = await get('/blocking?n=1000');
  assert.equal(b.status, 200, b.body);
  assert.equal(b.body, '1000\n');
});

test('a bad n is 400 with jobd\'s message', async () => {
  for (const q of ['n=0', 'n=abc', 'n=100000000001']) {
    const r = await get(`/blocking?${q}`);
    assert.equal(r.status, 400, `${q}: ${r.body}`);
    assert.match(r.body, /INVALID_ARGUMENT.*\bn\b/, q);
  }
  const twice = await get('/blocking?n=1&n=2');
  assert.equal(twice.status, 400);
  assert.match(twice.body, /n must be given once/);
});

test(`${BLOCKING} /blocking on ${WORKERS} workers: /non-blocking answers, the rest wait in jobd's queue`, async () => {
  const threadsBefore = threads(server.pid);
  const ns = Array.from({ length: BLOCKING }, (_, i) => N + i);
  let answered = 0;
  const blocking = ns.map((n) => get(`/blocking?n=${n}`).finally(() => answered++));

  // the moment jobd has every worker busy and the rest queued
  const busy = await until('every worker busy and a job queued', async () => {
    const s = await jobd.stats();
    return s.busyWorkers === WORKERS && s.queued >= 1n ? s : null;
  });
  assert.equal(busy.workers, WORKERS);
  let threadsMax = threads(server.pid);

  const lat = [];
  const inFlight = [];
  for (let i = 0; i < NON_BLOCKING; i++) {
    const r = await get('/non-blocking');
    inFlight.push(BLOCKING - answered);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'This page is non-blocking');
    lat.push(r.ms);
    threadsMax = Math.max(threadsMax, threads(server.pid));
  }
  const during = await jobd.stats();
  const kids = children(server.pid);
  threadsMax = Math.max(threadsMax, threads(server.pid));

  const results = await Promise.all(blocking);
  lat.sort((a, b) => a - b);
  const p50 = lat[Math.floor(lat.length / 2)];
  console.log(`# ${BLOCKING} /blocking (n=${N}..${N + BLOCKING - 1}) on ${WORKERS} workers:`
    + ` when they were all in: busy ${busy.busyWorkers}/${busy.workers}, queued ${busy.queued};`
    + ` after the /non-blocking: busy ${during.busyWorkers}, queued ${during.queued}`);
  console.log(`# ${NON_BLOCKING} /non-blocking meanwhile: p50 ${p50.toFixed(1)} ms, max ${lat.at(-1).toFixed(1)} ms;`
    + ` /blocking in flight at each answer: ${Math.min(...inFlight)}..${Math.max(...inFlight)}`);
  console.log(`# server.js threads: ${threadsBefore} before, at most ${threadsMax} with them in flight;`
    + ` child processes: ${kids.length}`);

  for (const k of inFlight) assert.ok(k >= 1, 'each /non-blocking answered while /blocking were in flight');
  assert.ok(threadsMax <= threadsBefore, `server.js threads grew from ${threadsBefore} to ${threadsMax}`);
  assert.deepEqual(kids, [], 'server.js starts no process');
  results.forEach((r, i) => {
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, `${ns[i]}\n`);
  });
});

test('a client that goes away gets its job cancelled', async () => {
  const n = 99_999_999_999; // minutes of counting
  const ac = new AbortController();
  const req = get(`/blocking?n=${n}`, { signal: ac.signal }).catch((e) => e);
  const running = await until('the job runs', async () => {
    const { jobs } = await jobd.list({ state: 'running', kind: 'count-js' });
    return jobs.find((j) => j.params.n === String(n));
  });
  ac.abort();
  assert.equal((await req).name, 'AbortError');
  const ended = await until('the job is cancelled', async () => {
    const job = await jobd.get(running.id);
    return job.state === 'cancelled' ? job : null;
  }, 15_000);
  assert.equal(ended.id, running.id);
});

test('a jobd that cannot be reached is 503', async () => {
  const port = await freePort(); // nobody listens there
  const { proc, url } = await startServer({ JOBD_ADDR: `tcp://127.0.0.1:${port}` });
  try {
    const t0 = performance.now();
    const r = await new Promise((resolve, reject) => {
      http.get(`${url}/blocking?n=1`, { agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      }).on('error', reject);
    });
    assert.equal(r.status, 503, r.body);
    assert.match(r.body, /UNAVAILABLE/);
    console.log(`# jobd unreachable: ${r.status} in ${(performance.now() - t0).toFixed(0)} ms: ${r.body.trim()}`);
  } finally {
    assert.equal(await stopProc(proc), 0);
  }
});

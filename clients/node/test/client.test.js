// The client against a real jobd: calls in flight on one connection,
// AbortSignal, deadlines, bigint ids, limits, close(), the errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import {
  Client, Code, JobdError, NotFound, InvalidArgument, DeadlineExceeded, Unavailable, Cancelled,
  ResourceExhausted, FailedPrecondition, MAX_REQUEST_BYTES,
} from '../index.js';
import { Daemon, env, freePort } from './lib/daemon.js';
import { create } from '@bufbuild/protobuf';
import { JobSchema, JobState, KindSchema, RunSchema, ScheduleSchema, StatsReplySchema } from '../src/gen/jobd_pb.js';
import { fromJob, fromKind, fromSchedule, fromStats, toAfter, toDelayMs, toRunAtMs } from '../src/convert.js';

let d;
let c;
const LONG = { n: '100000000000' }; // count: runs until cancelled

before(async () => {
  d = new Daemon('plain');
  await d.setup();
  c = new Client(d.address);
});

after(async () => {
  c?.close();
  let failed = false;
  try {
    await d.teardown();
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    if (failed) console.error(d.logText());
    else d.remove();
  }
});

test('submit, wait, get: plain values, bigint ids, Dates', async () => {
  const { job, existing } = await c.submit('count', { n: 1000 }, { priority: 2, maxAttempts: 2 });
  assert.equal(existing, false);
  assert.equal(typeof job.id, 'bigint');
  assert.equal(job.kind, 'count');
  assert.deepEqual(job.params, { n: '1000' });
  assert.equal(job.priority, 2);
  assert.equal(job.maxAttempts, 2);
  assert.match(job.idempotencyKey, /^[0-9a-f]{32}$/);
  assert.ok(job.createdAt instanceof Date);
  const ended = await c.wait(job.id);
  assert.equal(ended.state, 'succeeded');
  assert.equal(ended.result.toString(), '1000');
  assert.equal(typeof ended.progressDone, 'bigint');
  assert.ok(ended.finishedAt instanceof Date && ended.finishedAt >= ended.createdAt);
  const got = await c.get(String(job.id));
  assert.equal(got.id, job.id);
  assert.equal(Object.getPrototypeOf(got), Object.prototype);
  assert.equal(got.$typeName, undefined);
});

test('ids above 2^53 go on the wire exactly', async () => {
  const big = 2n ** 60n + 5n;
  const max = 2n ** 64n - 1n;
  const r = await c.getMany([big, max.toString(), 9007199254740993n]);
  assert.deepEqual(r.missing, [big, max, 9007199254740993n]);
  await assert.rejects(c.get(big), (e) => e instanceof NotFound && e.code === Code.NOT_FOUND
    && e.message === `NOT_FOUND: job ${big} not found` && e.details === `job ${big} not found`);
  await assert.rejects(c.get(2 ** 53), InvalidArgument); // not a safe integer
  await assert.rejects(c.get(-1), InvalidArgument);
  await assert.rejects(c.get((2n ** 64n).toString()), InvalidArgument);
  await assert.rejects(c.get('12a'), InvalidArgument);
});

test('the daemon\'s errors: one class per code, with its message', async () => {
  await assert.rejects(c.submit('nope'), (e) => e instanceof InvalidArgument && e instanceof JobdError
    && e.codeName === 'INVALID_ARGUMENT' && /unknown kind 'nope'/.test(e.details)
    && e.message === `INVALID_ARGUMENT: ${e.details}`);
  const { job } = await c.submit('sha256', {}, { input: 'abc' });
  await c.wait(job.id);
  await assert.rejects(c.cancel(job.id), FailedPrecondition);
  await assert.rejects(c.wait(424242, { deadlineMs: 2000 }), NotFound);
});

test('a failed job is an answer of wait, not a rejection', async () => {
  const { job } = await c.submit('fail', { message: 'oops' });
  const ended = await c.wait(job.id);
  assert.equal(ended.state, 'failed');
  assert.match(ended.error, /oops/);
});

test('100 calls in flight on one client, each answered with its own reply', async () => {
  const before = await c.stats();
  const calls = [];
  for (let i = 0; i < 100; i++) {
    calls.push(i % 4 === 0
      ? c.submit('sha256', {}, { input: `in-${i}` }).then((r) => c.wait(r.job.id))
      : c.ping(`payload-${i}`));
  }
  const out = await Promise.all(calls);
  for (const [i, r] of out.entries()) {
    if (i % 4 === 0) {
      assert.equal(r.state, 'succeeded');
      assert.equal(r.result.toString(), (await import('node:crypto')).createHash('sha256').update(`in-${i}`).digest('hex'));
    } else {
      assert.equal(r.payload.toString(), `payload-${i}`);
    }
  }
  const after = await c.stats();
  assert.equal(after.connections, before.connections, 'all on the one connection');
});

test('replies come out of order: a Wait in flight does not hold a Ping back', async () => {
  const { job } = await c.submit('count', LONG);
  let waitDone = false;
  const w = c.wait(job.id).then((j) => { waitDone = true; return j; });
  const p = await c.ping('after the wait');
  assert.equal(p.payload.toString(), 'after the wait');
  assert.equal(waitDone, false);
  await c.cancel(job.id);
  assert.equal((await w).state, 'cancelled');
});

test('AbortSignal: an aborted call rejects CANCELLED, the others go on', async () => {
  const { job } = await c.submit('count', LONG);
  const ac = new AbortController();
  const w = c.wait(job.id, { signal: ac.signal });
  const other = c.wait(job.id);
  await c.ping();
  ac.abort();
  await assert.rejects(w, (e) => e instanceof Cancelled && e.code === Code.CANCELLED);
  await assert.rejects(c.ping('x', { signal: AbortSignal.abort() }), Cancelled);
  assert.equal((await c.ping('still')).payload.toString(), 'still');
  await c.cancel(job.id);
  assert.equal((await other).state, 'cancelled');
});

test('a Wait\'s deadline: the daemon answers DEADLINE_EXCEEDED, the job goes on', async () => {
  const { job } = await c.submit('count', LONG);
  await assert.rejects(c.wait(job.id, { deadlineMs: 200 }),
    (e) => e instanceof DeadlineExceeded && /deadline exceeded/.test(e.details));
  assert.notEqual((await c.get(job.id)).state, 'cancelled');
  await c.cancel(job.id);
});

test('a request over 2 MiB is refused by the client, which goes on', async () => {
  await assert.rejects(c.submit('echo', {}, { input: Buffer.alloc(MAX_REQUEST_BYTES) }),
    (e) => e instanceof ResourceExhausted && /over the client's limit/.test(e.details));
  assert.ok(await c.ping());
});

test('submitBatch, list pages and listAll', async () => {
  const kind = 'primes';
  const replies = await c.submitBatch([1, 2, 3, 4, 5].map((i) => ({ kind, params: { limit: 10 * i } })));
  assert.equal(replies.length, 5);
  for (const r of replies) await c.wait(r.job.id);
  const page = await c.list({ kind, limit: 2 });
  assert.equal(page.jobs.length, 2);
  assert.equal(page.jobs[0].id, replies[4].job.id);
  assert.ok(page.nextCursor > 0n);
  const all = [];
  for await (const j of c.listAll({ kind, state: 'succeeded', limit: 2 })) all.push(j.id);
  assert.deepEqual(all, replies.map((r) => r.job.id).reverse());
  await assert.rejects(c.list({ state: 'sleeping' }), InvalidArgument);
});

test('kinds and stats: plain values, 64-bit counters as bigint', async () => {
  const kinds = await c.kinds();
  const count = kinds.find((k) => k.name === 'count');
  assert.equal(count.origin, 'built-in');
  assert.equal(count.params[0].type, 'int');
  assert.equal(typeof count.params[0].min, 'bigint');
  const s = await c.stats();
  assert.equal(s.workers, 2);
  assert.equal(typeof s.submitted, 'bigint');
  assert.equal(s.$typeName, undefined);
});

test('close(): calls in flight reject CANCELLED, later calls UNAVAILABLE', async () => {
  const c2 = new Client(d.address);
  const { job } = await c2.submit('count', LONG);
  const w = c2.wait(job.id);
  await c2.ping();
  c2.close();
  await assert.rejects(w, Cancelled);
  await assert.rejects(c2.ping(), Unavailable);
  await c.cancel(job.id);
});

test('never reached: UNAVAILABLE at once, naming the address', async () => {
  const addr = `tcp://127.0.0.1:${await freePort()}`;
  const c2 = new Client(addr);
  const t0 = Date.now();
  await assert.rejects(c2.ping('x', { deadlineMs: 5000 }),
    (e) => e instanceof Unavailable && e.details.includes(addr) && /ECONNREFUSED/.test(e.details));
  assert.ok(Date.now() - t0 < 4000, 'before the deadline');
  c2.close();
  const c3 = new Client('ipc:///nonexistent/jobd.sock');
  await assert.rejects(c3.ping(), (e) => e instanceof Unavailable && /ENOENT/.test(e.details));
  c3.close();
});

test('TLS: a certificate from another CA is refused, UNAVAILABLE', async () => {
  const t = new Daemon('tls');
  const other = mkdtempSync(join(tmpdir(), 'jobd-node-ca-'));
  try {
    await t.setup();
    execFileSync('sh', [join(env.conformance, 'make-certs.sh'), other]);
    const good = new Client(t.address, { tls: t.clientOptions.tls });
    assert.equal((await good.ping('tls')).payload.toString(), 'tls');
    good.close();
    const bad = new Client(t.address, { tls: { ca: readFileSync(join(other, 'ca.pem')), serverName: 'localhost' } });
    await assert.rejects(bad.ping(), (e) => e instanceof Unavailable && e.details.includes(t.address));
    bad.close();
    const wrongName = new Client(t.address, { tls: { ca: t.clientOptions.tls.ca, serverName: 'example.org' } });
    await assert.rejects(wrongName.ping(), Unavailable);
    wrongName.close();
  } finally {
    await t.teardown();
    t.remove();
    rmSync(other, { recursive: true, force: true });
  }
});

test('scheduling arguments: runAt, delayMs, after, uniqueKey as the wire has them', () => {
  const at = new Date(Date.UTC(2031, 1, 3, 4, 5, 6, 789));
  assert.equal(toRunAtMs(at), 1927857906789n);
  assert.equal(toRunAtMs(new Date(-1)), -1n); // the daemon judges it
  assert.equal(toRunAtMs(undefined), 0n);
  assert.equal(toDelayMs(1500), 1500n);
  assert.equal(toDelayMs(2n ** 40n), 2n ** 40n);
  assert.equal(toDelayMs(undefined), 0n);
  const job = fromJob(create(JobSchema, { id: 41n, kind: 'count' }));
  assert.deepEqual(toAfter([job, 7, 8n, '9']), [41n, 7n, 8n, 9n]);
  assert.deepEqual(toAfter(undefined), []);
  const req = c.submitRequest({ kind: 'count', runAt: at, delayMs: 5, after: [job], uniqueKey: 'u' });
  assert.equal(req.runAtMs, 1927857906789n);
  assert.equal(req.delayMs, 5n);
  assert.deepEqual(req.after, [41n]);
  assert.equal(req.uniqueKey, 'u');
  const none = c.submitRequest({ kind: 'count' });
  assert.equal(none.runAtMs, 0n);
  assert.deepEqual(none.after, []);
  assert.equal(none.uniqueKey, '');
});

test('bad scheduling arguments are refused before anything is sent', async () => {
  const idle = new Client(`tcp://127.0.0.1:${await freePort()}`); // nothing listens: no UNAVAILABLE may come
  await assert.rejects(idle.submit('count', { n: 1 }, { runAt: 1893456000000 }), /runAt must be a valid Date/);
  await assert.rejects(idle.submit('count', { n: 1 }, { runAt: new Date('nonsense') }), TypeError);
  for (const bad of [-1, 1.5, '10', NaN, -1n]) {
    await assert.rejects(idle.submit('count', { n: 1 }, { delayMs: bad }), /delayMs must be a non-negative integer/);
  }
  await assert.rejects(idle.submit('count', { n: 1 }, { after: 5 }), /after must be an array/);
  for (const bad of [-1, 1.5, 'x', null, {}, 2 ** 53]) {
    await assert.rejects(idle.submit('count', { n: 1 }, { after: [bad] }), InvalidArgument);
  }
  await assert.rejects(idle.submitBatch([{ kind: 'count', after: [-1] }]), InvalidArgument);
  await assert.rejects(idle.pause(5), TypeError);
  await assert.rejects(idle.retry('x'), InvalidArgument);
  idle.close();
});

test('scheduling fields from the wire: plain values, Dates, bigint ids', () => {
  const j = fromJob(create(JobSchema, {
    id: 9n, kind: 'fail', state: JobState.SCHEDULED, runAtMs: 1733456789123n, after: [3n, 5n], reruns: 2,
    uniqueKey: 'k',
    history: [
      create(RunSchema, { state: JobState.FAILED, error: 'e1', attempts: 3, startedAtMs: 1000n, finishedAtMs: 2000n }),
      create(RunSchema, { state: JobState.CANCELLED, error: 'e2' }),
    ],
  }));
  assert.equal(j.state, 'scheduled');
  assert.deepEqual(j.runAt, new Date(1733456789123));
  assert.deepEqual(j.after, [3n, 5n]);
  assert.equal(j.reruns, 2);
  assert.equal(j.uniqueKey, 'k');
  assert.deepEqual(j.history, [
    { state: 'failed', error: 'e1', attempts: 3, startedAt: new Date(1000), finishedAt: new Date(2000) },
    { state: 'cancelled', error: 'e2', attempts: 0, startedAt: null, finishedAt: null },
  ]);
  const plain = fromJob(create(JobSchema, { id: 1n }));
  assert.equal(plain.runAt, null);
  assert.deepEqual(plain.history, []);
  assert.equal(fromKind(create(KindSchema, { name: 'x', paused: true })).paused, true);
  const s = fromSchedule(create(ScheduleSchema, {
    name: 'often', kind: 'count', params: { n: '1' }, spec: 'every 5m', timeZone: 'UTC', catchUp: 'one',
    nextAtMs: 5000n, lastAtMs: 0n, lastJobId: 0n, source: '/k/often.schedule', priority: 2,
  }));
  assert.deepEqual(s, {
    name: 'often', kind: 'count', params: { n: '1' }, spec: 'every 5m', timeZone: 'UTC', catchUp: 'one',
    nextAt: new Date(5000), lastAt: null, lastJobId: null, source: '/k/often.schedule', priority: 2,
  });
  assert.equal(fromSchedule(create(ScheduleSchema, { lastJobId: 77n, lastAtMs: 4n })).lastJobId, 77n);
  const st = fromStats(create(StatsReplySchema, {
    scheduled: 4n, pausedKinds: ['a'], finishedRecent: [0, 3], finishedRecentStepMs: 10000,
  }));
  assert.equal(st.scheduled, 4n);
  assert.deepEqual(st.pausedKinds, ['a']);
  assert.deepEqual(st.finishedRecent, [0, 3]);
  assert.equal(st.finishedRecentStepMs, 10000);
  assert.equal(st.$typeName, undefined);
});

test('scheduling against the daemon: delay, after, uniqueKey, pause, retry, schedules', async () => {
  const soon = (await c.submit('sha256', {}, { input: 'abc', delayMs: 1000 })).job;
  assert.equal(soon.state, 'scheduled');
  assert.ok(soon.runAt instanceof Date);
  const later = (await c.submit('sha256', {}, { input: 'abc', runAt: new Date(Date.now() + 3600000), uniqueKey: 'later' })).job;
  assert.ok((await c.list({ state: 'scheduled' })).jobs.some((j) => j.id === later.id));
  const dep = (await c.submit('primes', { limit: 100 }, { after: [soon] })).job;
  assert.deepEqual(dep.after, [soon.id]);
  assert.equal((await c.wait(dep.id)).state, 'succeeded');
  const ran = await c.get(soon.id);
  assert.ok(ran.startedAt >= soon.runAt);
  assert.equal(await c.pause('fail'), true);
  assert.equal(await c.pause('fail'), false);
  const st = await c.stats();
  assert.deepEqual(st.pausedKinds, ['fail']);
  assert.equal((await c.kinds()).find((k) => k.name === 'fail').paused, true);
  await assert.rejects(c.pause('nope'), NotFound);
  const f = (await c.submit('fail', { message: 'x' })).job;
  assert.match((await c.get(f.id)).waiting, /paused/); // the wording: conformance
  assert.equal(await c.resume('fail'), true);
  assert.equal((await c.wait(f.id)).state, 'failed');
  const r = await c.retry(f.id);
  assert.equal(r.reruns, 1);
  assert.equal(r.history.length, 1);
  assert.equal(r.history[0].state, 'failed');
  assert.equal((await c.wait(f.id)).reruns, 1);
  await assert.rejects(c.retry(dep.id), FailedPrecondition);
  await assert.rejects(c.retry(987654), NotFound);
  assert.ok((await c.list({ state: 'failed' })).jobs.some((j) => j.id === f.id));
  assert.deepEqual(await c.schedules(), []);
  const again = await c.submit('sha256', {}, { input: 'abc', uniqueKey: 'later' });
  assert.equal(again.existing, true);
  assert.equal(again.job.id, later.id);
  await c.cancel(later.id);
});

test('bad arguments are refused before anything is sent', async () => {
  assert.throws(() => new Client('http://x'), TypeError);
  assert.throws(() => new Client('tls+tcp://127.0.0.1:1'), /tls option/);
  await assert.rejects(c.submit('count', { n: {} }), TypeError);
  await assert.rejects(c.ping('x', { deadlineMs: -1 }), TypeError);
});

test('one client across restarts: calls after each, a Wait in flight re-sent', async () => {
  const r = new Daemon('plain');
  let ok = false;
  try {
    await r.setup();
    const c2 = new Client(r.address);
    for (const sig of ['KILL', 'TERM', 'KILL', 'TERM']) {
      await r.restart(sig);
      assert.equal((await c2.ping(sig, { deadlineMs: 10000 })).payload.toString(), sig);
    }
    const { job } = await c2.submit('count', LONG);
    const w = c2.wait(job.id);
    await c2.ping();
    await r.restart('KILL');
    // The Wait was sent again on the new connection: cancelling the job
    // (recovered at start) answers it.
    const cancelled = await c2.cancel(job.id, { deadlineMs: 10000 });
    assert.equal(cancelled.state, 'cancelled');
    assert.equal((await w).state, 'cancelled');
    c2.close();
    ok = true;
  } finally {
    await r.teardown();
    if (ok) r.remove();
    else console.error(r.logText());
  }
});

test('a client key that does not parse: UNAVAILABLE, no call left behind', async () => {
  const c2 = new Client('tls+tcp://127.0.0.1:1', { tls: { ca: 'x', cert: 'garbage', key: 'garbage' } });
  await assert.rejects(c2.ping('x', { deadlineMs: 3000 }), (e) => e instanceof Unavailable && /PEM/.test(e.details));
  c2.close();
});

test('an idle client does not keep the process alive', async () => {
  const { execFile } = await import('node:child_process');
  const script = `import { Client } from ${JSON.stringify(new URL('../index.js', import.meta.url).href)};
    const c = new Client(${JSON.stringify(d.address)});
    const r = await c.ping('idle');
    console.log(r.payload.toString());`;
  const out = await new Promise((res, rej) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 20000 }, (err, stdout) => {
      if (err) rej(err);
      else res(stdout);
    });
  });
  assert.equal(out.trim(), 'idle');
});

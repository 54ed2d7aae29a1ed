// The conformance suite (clients/conformance/README.md, scenarios.json),
// run by this client: one test per scenario, each against a fresh jobd.
// Steps, arguments and matching follow the README exactly; the answers of
// the client are turned into the plain values it describes (snake_case
// names, Unix milliseconds, BYTES) before they are matched.
import { test } from 'node:test';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '../index.js';
import { Daemon, env, freePort, TOKEN } from './lib/daemon.js';

const table = JSON.parse(readFileSync(join(env.conformance, 'scenarios.json'), 'utf8'));

// ---- the client's answers as plain values

const ms = (d) => (d === null ? 0 : d.getTime());
const snake = (s) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function plainJob(j) {
  return {
    id: j.id, kind: j.kind, params: j.params, priority: j.priority, state: j.state, attempts: j.attempts,
    max_attempts: j.maxAttempts, timeout_ms: j.timeoutMs, progress_done: j.progressDone,
    progress_total: j.progressTotal, result: j.result, error: j.error, created_at_ms: ms(j.createdAt),
    started_at_ms: ms(j.startedAt), finished_at_ms: ms(j.finishedAt), idempotency_key: j.idempotencyKey,
    input_size: j.inputSize, waiting: j.waiting, run_at_ms: ms(j.runAt), after: j.after, reruns: j.reruns,
    history: j.history.map((r) => ({
      state: r.state, error: r.error, attempts: r.attempts, started_at_ms: ms(r.startedAt),
      finished_at_ms: ms(r.finishedAt),
    })),
    unique_key: j.uniqueKey,
  };
}
const plainSubmit = (r) => ({ job: plainJob(r.job), existing: r.existing });
function plainKind(k) {
  return {
    name: k.name, description: k.description, origin: k.origin, source: k.source, uses_input: k.usesInput,
    concurrency: k.concurrency, max_input: k.maxInput, paused: k.paused,
    params: k.params.map((p) => ({
      name: p.name, type: p.type, required: p.required, min: p.min, max: p.max,
      default_value: p.defaultValue, description: p.description, choices: p.choices,
    })),
  };
}

// ---- arguments

function data(d) {
  if (d === undefined) return undefined;
  if ('text' in d) return d.text;
  return d.repeat.repeat(d.times);
}

const text = (v) => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : String(v));

function resolveVars(v, vars) {
  if (Array.isArray(v)) return v.map((x) => resolveVars(x, vars));
  if (v !== null && typeof v === 'object') {
    if ('var' in v && Object.keys(v).length === 1) {
      if (!(v.var in vars)) throw new Error(`no saved value '${v.var}'`);
      return vars[v.var];
    }
    if ('now_ms' in v && Object.keys(v).length === 1) return Date.now() + v.now_ms;
    if ('join' in v && Object.keys(v).length === 1) return v.join.map((x) => text(resolveVars(x, vars))).join('');
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolveVars(x, vars)]));
  }
  return v;
}

function jobSpec(a) {
  return {
    input: data(a.input), priority: a.priority, jobTimeoutMs: a.timeout_ms, maxAttempts: a.max_attempts,
    idempotencyKey: a.idempotency_key, runAt: a.run_at_ms === undefined ? undefined : new Date(a.run_at_ms),
    delayMs: a.delay_ms, after: a.after, uniqueKey: a.unique_key,
  };
}

/** Makes the call of a step; resolves with its plain answer. */
async function callMethod(c, method, a, deadlineMs) {
  const o = { deadlineMs };
  switch (method) {
    case 'submit':
      return plainSubmit(await c.submit(a.kind, a.params, { ...jobSpec(a), ...o }));
    case 'submit_batch': {
      const jobs = a.jobs.map((j) => ({ kind: j.kind, params: j.params, ...jobSpec(j) }));
      return { jobs: (await c.submitBatch(jobs, o)).map(plainSubmit) };
    }
    case 'get': {
      const r = await c.getMany(a.ids, o);
      return { jobs: r.jobs.map(plainJob), missing: r.missing };
    }
    case 'wait':
      return plainJob(await c.wait(a.id, o));
    case 'cancel':
      return plainJob(await c.cancel(a.id, o));
    case 'retry':
      return plainJob(await c.retry(a.id, o));
    case 'pause':
      return { changed: await c.pause(a.kind, o) };
    case 'resume':
      return { changed: await c.resume(a.kind, o) };
    case 'schedules':
      return {
        schedules: (await c.schedules(o)).map((x) => ({
          name: x.name, kind: x.kind, params: x.params, spec: x.spec, time_zone: x.timeZone, catch_up: x.catchUp,
          next_at_ms: ms(x.nextAt), last_at_ms: ms(x.lastAt), last_job_id: x.lastJobId ?? 0, source: x.source,
          priority: x.priority,
        })),
      };
    case 'list': {
      const r = await c.list({ state: a.state, kind: a.kind, limit: a.limit, cursor: a.cursor }, o);
      return { jobs: r.jobs.map(plainJob), next_cursor: r.nextCursor };
    }
    case 'stats':
      return Object.fromEntries(Object.entries(await c.stats(o)).map(([k, v]) => [snake(k), v]));
    case 'kinds':
      return { kinds: (await c.kinds(o)).map(plainKind) };
    case 'ping': {
      const r = await c.ping(data(a.payload), o);
      return { payload: r.payload, version: r.version, time_ms: ms(r.time) };
    }
    default:
      throw new Error(`unknown method '${method}'`);
  }
}

// ---- matching

const ABSENT = Symbol('absent');
const isNum = (v) => typeof v === 'number' || typeof v === 'bigint';
const isBytes = (v) => v instanceof Uint8Array;

function at(value, path) {
  if (path === '.') return value;
  let v = value;
  for (const seg of path.split('.')) {
    if (v === ABSENT || v === null || v === undefined) return ABSENT;
    if (seg === '#') {
      if (Array.isArray(v) || isBytes(v) || typeof v === 'string') {
        v = typeof v === 'string' ? Buffer.byteLength(v) : v.length;
      } else if (typeof v === 'object') v = Object.keys(v).length;
      else return ABSENT;
    } else if (Array.isArray(v)) {
      const i = Number(seg);
      v = Number.isInteger(i) && i >= 0 && i < v.length ? v[i] : ABSENT;
    } else if (typeof v === 'object' && !isBytes(v) && Object.hasOwn(v, seg)) {
      v = v[seg];
    } else {
      return ABSENT;
    }
  }
  return v;
}

function toBig(v) {
  return typeof v === 'bigint' ? v : Number.isInteger(v) ? BigInt(v) : null;
}

function cmp(a, b) {
  const x = toBig(a);
  const y = toBig(b);
  if (x !== null && y !== null) return x < y ? -1 : x > y ? 1 : 0;
  return Number(a) < Number(b) ? -1 : Number(a) > Number(b) ? 1 : 0;
}

function equal(got, want) {
  if (got === ABSENT) return false;
  if (isNum(got) && isNum(want)) return cmp(got, want) === 0;
  if (isBytes(got) && typeof want === 'string') return Buffer.from(got).equals(Buffer.from(want, 'utf8'));
  if (isBytes(got) && isBytes(want)) return Buffer.from(got).equals(Buffer.from(want));
  if (Array.isArray(got) && Array.isArray(want)) {
    return got.length === want.length && got.every((g, i) => equal(g, want[i]));
  }
  if (got !== null && want !== null && typeof got === 'object' && typeof want === 'object') {
    const ks = Object.keys(want);
    return ks.length === Object.keys(got).length && ks.every((k) => equal(got[k], want[k]));
  }
  return got === want;
}

function matches(got, m0, vars) {
  if (m0 === null || typeof m0 !== 'object') return equal(got, m0);
  if (Array.isArray(m0)) return equal(got, resolveVars(m0, vars)); // a literal list may hold VALUEs
  if ('var' in m0 || 'now_ms' in m0 || 'join' in m0) return equal(got, resolveVars(m0, vars));
  if ('absent' in m0) return got === ABSENT;
  if (got === ABSENT) return false;
  const m = resolveVars(m0, vars); // every matcher's argument is a VALUE
  if ('contains' in m) {
    if (typeof got === 'string') return got.includes(m.contains);
    if (isBytes(got)) return Buffer.from(got).includes(Buffer.from(m.contains, 'utf8'));
    if (Array.isArray(got)) return got.some((g) => equal(g, m.contains));
    return false;
  }
  if ('gte' in m) return isNum(got) && cmp(got, m.gte) >= 0;
  if ('lte' in m) return isNum(got) && cmp(got, m.lte) <= 0;
  if ('gt' in m) return isNum(got) && cmp(got, m.gt) > 0;
  if ('in' in m) return m.in.some((w) => equal(got, w));
  if ('sha256' in m) {
    const b = typeof got === 'string' ? Buffer.from(got, 'utf8') : isBytes(got) ? got : null;
    return b !== null && createHash('sha256').update(b).digest('hex') === m.sha256;
  }
  return equal(got, m);
}

const show = (v) => (v === ABSENT ? '(absent)' : JSON.stringify(v, (k, x) => {
  if (typeof x === 'bigint') return Number(x);
  if (x && x.type === 'Buffer' && Array.isArray(x.data)) {
    const b = Buffer.from(x.data);
    return b.length > 64 ? `<${b.length} bytes>` : b.toString('utf8');
  }
  return x;
}));

/** Checks an outcome ({value} or {err}) against an `expect`; throws naming what differs. */
function check(where, outcome, expect, vars) {
  if (outcome.err !== undefined) {
    const e = outcome.err;
    if (e.codeName === undefined) throw e; // not a JobdError: a bug in the client or the runner
    if (expect.code === 'OK') throw new Error(`${where}: expected OK, got ${e.codeName}: ${e.details}`);
    if (expect.code !== e.codeName) {
      throw new Error(`${where}: expected ${expect.code}, got ${e.codeName}: ${e.details}`);
    }
    if ('message' in expect && !matches(e.details, expect.message, vars)) {
      throw new Error(`${where}: ${e.codeName} message '${e.details}' does not match ${JSON.stringify(expect.message)}`);
    }
    return;
  }
  if (expect.code !== 'OK') throw new Error(`${where}: expected ${expect.code}, got OK: ${show(outcome.value)}`);
  for (const [path, m] of Object.entries(expect.value ?? {})) {
    const got = at(outcome.value, path);
    if (!matches(got, m, vars)) {
      throw new Error(`${where}: ${path} = ${show(got)}, expected ${JSON.stringify(m)}`);
    }
  }
}

function save(outcome, spec, vars) {
  for (const [name, path] of Object.entries(spec ?? {})) {
    const v = at(outcome.value, path);
    if (v === ABSENT) throw new Error(`cannot save ${name}: ${path} is absent`);
    vars[name] = v;
  }
}

const settle = (p) => p.then((value) => ({ value }), (err) => ({ err }));
const sleep = (msec) => new Promise((r) => setTimeout(r, msec));

// ---- one scenario

async function run(sc) {
  const d = sc.daemon === 'none' ? null : new Daemon(sc.daemon);
  let failure = null;
  let c = null;
  try {
    let address;
    const opts = {};
    if (d === null) {
      address = `tcp://127.0.0.1:${await freePort()}`;
    } else {
      await d.setup();
      address = d.address;
      Object.assign(opts, d.clientOptions);
    }
    const tok = sc.client?.token;
    if (tok === 'good') opts.token = TOKEN;
    else if (tok === 'wrong') opts.token = 'not-the-token-at-all';
    c = new Client(address, opts);
    const vars = {};
    const handles = {};
    for (const [i, step] of sc.steps.entries()) {
      const where = `step ${i} (${step.call ?? step.op ?? `await ${step.await}`})`;
      if (step.call !== undefined) {
        const args = resolveVars(step.args ?? {}, vars);
        const p = settle(callMethod(c, step.call, args, step.deadline_ms));
        if (step.async !== undefined) {
          handles[step.async] = { p, step };
          continue;
        }
        const outcome = await p;
        check(where, outcome, step.expect, vars);
        save(outcome, step.save, vars);
      } else if (step.await !== undefined) {
        const h = handles[step.await];
        if (h === undefined) throw new Error(`${where}: no call '${step.await}' in flight`);
        const outcome = await h.p;
        check(`${where} (its call)`, outcome, h.step.expect, vars);
        check(where, outcome, step.expect, vars);
        save(outcome, h.step.save, vars);
        save(outcome, step.save, vars);
      } else if (step.op === 'wait_state') {
        const id = resolveVars(step.id, vars);
        const end = Date.now() + step.within_ms;
        let last;
        for (;;) {
          last = (await c.get(id)).state;
          if (last === step.state) break;
          if (Date.now() > end) throw new Error(`${where}: job ${id} is ${last}, not ${step.state}, after ${step.within_ms} ms`);
          await sleep(20);
        }
      } else if (step.op === 'restart') {
        await d.restart(step.signal);
      } else if (step.op === 'stop') {
        await d.kill('TERM');
      } else if (step.op === 'proxy_hold') {
        d.proxyHold();
      } else if (step.op === 'proxy_wait_held') {
        await d.proxyLine(/^held \d+$/, 10000);
      } else {
        throw new Error(`${where}: unknown step ${JSON.stringify(step)}`);
      }
    }
  } catch (e) {
    failure = e;
  } finally {
    c?.close();
    if (d !== null) {
      try {
        await d.teardown();
      } catch (e) {
        failure ??= e;
      }
      if (d.child !== null) d.child.kill('SIGKILL');
      if (failure !== null) {
        console.error(`--- ${sc.name}: jobd's log (${d.log}) ---\n${d.logText()}--- end of log ---`);
      } else {
        d.remove();
      }
    }
  }
  if (failure !== null) throw failure;
}

for (const sc of table.scenarios) {
  test(`conformance: ${sc.name}`, { timeout: 90000 }, () => run(sc));
}

// What the page's test needs around the browser: a real jobd started with
// --http on free ports (and the kinds of tests/web/kinds), its JSON API
// called with fetch, and Debian's chromium launched by playwright-core.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');

export const KINDS_DIR = join(here, 'kinds');
export const JOBD_BIN = process.env.JOBD_BIN || join(repo, 'build', 'daemon', 'jobd');
export const CHROMIUM = process.env.JOBD_CHROMIUM || '/usr/bin/chromium';
// ctest gives the build's directory; by hand, a directory of /tmp.
export const SHOTS = process.env.WEB_SCREENSHOT_DIR || join(tmpdir(), 'jobd-web-screenshots');
// Set (ctest's fixture `postgres`, tests/pg_cluster.sh run): every daemon
// gets a PostgreSQL database of its own on that server instead of a file.
const PG_URL = process.env.JOBD_TEST_DB_URL;
const PSQL = process.env.JOBD_TEST_PSQL || 'psql';

function psql(sql) {
  execFileSync(PSQL, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', PG_URL, '-c', sql], { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Fails the test with `what` unless fn() returns a truthy value within ms. */
export async function until(what, ms, fn) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms (last: ${last})`);
    await sleep(100);
  }
}

const live = new Set();
process.on('exit', () => {
  for (const d of live) d.child?.kill('SIGKILL');
});

export class Daemon {
  /** token: run with --auth-token-file holding it. */
  constructor({ token } = {}) {
    this.token = token;
    this.dir = mkdtempSync(join(tmpdir(), 'jobd-web-'));
    this.log = join(this.dir, 'jobd.log');
  }

  async start() {
    if (!existsSync(JOBD_BIN)) throw new Error(`no jobd at ${JOBD_BIN}: set JOBD_BIN or build it`);
    this.port = await freePort();
    this.httpPort = await freePort();
    this.base = `http://127.0.0.1:${this.httpPort}/`;
    let db = join(this.dir, 'jobd.db');
    if (PG_URL && !this.dbname) {
      this.dbname = `jobd_web_${process.pid}_${this.port}`;
      psql(`CREATE DATABASE "${this.dbname}"`);
    }
    if (this.dbname) db = PG_URL.replace(/\/[^/]*$/, '/' + this.dbname);
    const args = ['--db', db, '--listen', `tcp://127.0.0.1:${this.port}`,
      '--http', `http://127.0.0.1:${this.httpPort}`, '--workers', '2',
      '--kinds-dir', KINDS_DIR, '--log-level', 'debug'];
    if (this.token) {
      writeFileSync(join(this.dir, 'token'), this.token, { mode: 0o600 });
      args.push('--auth-token-file', join(this.dir, 'token'));
    }
    const fd = openSync(this.log, 'a');
    try {
      this.child = spawn(JOBD_BIN, args, { stdio: ['ignore', 'ignore', fd] });
    } finally {
      closeSync(fd);
    }
    live.add(this);
    this.child.on('error', () => {});
    // Ready: /healthz answers (it needs no token).
    const end = Date.now() + 15000;
    for (;;) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`jobd exited (${this.child.exitCode ?? this.child.signalCode}) at start:\n${this.logTail()}`);
      }
      let up = false;
      try {
        const r = await fetch(this.base + 'healthz', { signal: AbortSignal.timeout(1000) });
        up = r.status === 200;
      } catch (e) {
        // not listening yet
      }
      // on PostgreSQL for real (its "ready" line names the URL), not on
      // a file by mistake
      const pg = !this.dbname || readFileSync(this.log, 'utf8').includes(`database 'postgresql://`);
      if (up && pg) return;
      if (Date.now() > end) {
        throw new Error(up ? `jobd does not say it is on PostgreSQL:\n${this.logTail()}`
          : `jobd's /healthz does not answer 200 after 15 s:\n${this.logTail()}`);
      }
      await sleep(50);
    }
  }

  logTail() {
    try {
      return readFileSync(this.log, 'utf8').split('\n').slice(-30).join('\n');
    } catch (e) {
      return '(no log)';
    }
  }

  /** Stops jobd with SIGTERM (SIGKILL after 10 s); returns its exit status. */
  async stop() {
    const c = this.child;
    if (!c) return null;
    if (c.exitCode === null && c.signalCode === null) {
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 10000);
      await gone;
      clearTimeout(t);
    }
    live.delete(this);
    this.child = null;
    return c.exitCode;
  }

  cleanup() {
    rmSync(this.dir, { recursive: true, force: true });
    if (this.dbname) psql(`DROP DATABASE IF EXISTS "${this.dbname}"`);
  }

  /**
   * One call of the JSON API: resolves with {status, body} (body parsed);
   * throws on anything but the expected HTTP status (default 200).
   */
  async api(method, path, body, { expect = 200, headers = {} } = {}) {
    const h = { ...headers };
    if (this.token) h.Authorization = `Bearer ${this.token}`;
    if (body !== undefined) h['Content-Type'] = 'application/json';
    const r = await fetch(this.base + 'v1/' + path, {
      method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(150000),
    });
    const text = await r.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch (e) {
      json = text;
    }
    if (r.status !== expect) {
      throw new Error(`${method} /v1/${path}: HTTP ${r.status}, expected ${expect}: ${text.slice(0, 300)}`);
    }
    return json;
  }

  async submit(kind, params = {}, extra = {}) {
    return (await this.api('POST', 'jobs', { kind, params, ...extra })).job;
  }

  async get(id) {
    return (await this.api('GET', `jobs/${id}`)).jobs[0];
  }

  /** Waits (120 s at most: a program job on a busy machine) for the job to end; its Job. */
  async wait(id) {
    return (await this.api('GET', `jobs/${id}:wait`, undefined, { headers: { 'Grpc-Timeout': '120S' } })).job;
  }
}

export function shotsDir() {
  mkdirSync(SHOTS, { recursive: true });
  return SHOTS;
}

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

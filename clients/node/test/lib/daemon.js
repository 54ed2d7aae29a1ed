// A real jobd (and holdproxy) for the tests: started on a fresh temporary
// directory with the conformance suite's options, stopped with SIGTERM, and
// its log kept for a failure's report. See clients/conformance/README.md.
// With JOBD_TEST_DB_URL set (the PostgreSQL run, node_client_pg:
// tests/pg_cluster.sh's wrapper sets it) each daemon gets a database of
// its own on that server, named as its directory, and that name as its
// node (JOBD_NODE); remove() drops the database.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname, resolve, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { Client } from '../../index.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..', '..', '..');

function need(name, fallback) {
  const v = process.env[name] ?? (existsSync(fallback) ? fallback : undefined);
  if (v === undefined) {
    throw new Error(`${name} is not set (ctest sets it; or build jobd in ${join(repo, 'build')})`);
  }
  return v;
}

export const env = {
  get jobd() { return need('JOBD_BIN', join(repo, 'build', 'daemon', 'jobd')); },
  get proxy() { return need('JOBD_PROXY_BIN', join(repo, 'build', 'clients', 'holdproxy')); },
  get conformance() { return need('JOBD_CONFORMANCE_DIR', join(repo, 'clients', 'conformance')); },
};

export const TOKEN = 'conformance-token-4f1d2a7c9e';

/** Runs sql with psql on the PostgreSQL run's server. */
function pgAdmin(sql) {
  execFileSync(process.env.JOBD_TEST_PSQL || 'psql',
    ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', process.env.JOBD_TEST_DB_URL, '-c', sql],
    { stdio: ['ignore', 'ignore', 'inherit'] });
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

function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((res) => child.once('exit', (code, signal) => res({ code, signal })));
}

export class Daemon {
  /** profile: plain, token, tls, ipc, small, proxy (see the conformance README). */
  constructor(profile) {
    this.profile = profile;
    this.dir = mkdtempSync(join(tmpdir(), 'jobd-node-'));
    this.log = join(this.dir, 'jobd.log');
    this.child = null;
    this.proxy = null;
    this.proxyLines = [];
    this.proxyWaiters = [];
  }

  async setup() {
    const d = this.dir;
    const extra = [];
    if (this.profile === 'ipc') {
      this.listen = `ipc://${join(d, 'jobd.sock')}`;
    } else {
      this.port = await freePort();
      this.listen = `${this.profile === 'tls' ? 'tls+tcp' : 'tcp'}://127.0.0.1:${this.port}`;
    }
    this.clientOptions = {};
    if (this.profile === 'token') {
      writeFileSync(join(d, 'token'), TOKEN, { mode: 0o600 });
      extra.push('--auth-token-file', join(d, 'token'));
    } else if (this.profile === 'tls') {
      execFileSync('sh', [join(env.conformance, 'make-certs.sh'), d]);
      extra.push('--tls-cert', join(d, 'server.pem'), '--tls-key', join(d, 'server.key'));
      this.clientOptions.tls = { ca: readFileSync(join(d, 'ca.pem')), serverName: 'localhost' };
    } else if (this.profile === 'small') {
      extra.push('--workers', '1', '--max-queue', '1');
    }
    let db = join(d, 'jobd.db');
    this.pgname = '';
    if (process.env.JOBD_TEST_DB_URL) {
      this.pgname = basename(d);
      db = `${process.env.JOBD_TEST_DB_URL.replace(/\/[^/]*$/, '')}/${this.pgname}`;
      pgAdmin(`CREATE DATABASE "${this.pgname}"`);
    }
    this.args = ['--db', db, '--listen', this.listen, '--workers', '2',
      '--kinds-dir', join(env.conformance, 'kinds'), '--log-level', 'debug', ...extra];
    this.address = this.listen;
    await this.start();
    if (this.profile === 'proxy') await this.startProxy();
  }

  async start() {
    const fd = openSync(this.log, 'a');
    try {
      const childEnv = this.pgname && !process.env.JOBD_NODE
        ? { ...process.env, JOBD_NODE: this.pgname } : process.env;
      this.child = spawn(env.jobd, this.args, { stdio: ['ignore', 'ignore', fd], env: childEnv });
    } finally {
      closeSync(fd);
    }
    this.child.on('error', () => {});
    await this.ready();
  }

  /** Waits (10 s at most) until a Ping over a connection of its own gets any answer from jobd. */
  async ready() {
    const end = Date.now() + 10000;
    for (;;) {
      const c = new Client(this.listen, { ...this.clientOptions, timeoutMs: 1000 });
      try {
        await c.ping('ready');
        return;
      } catch (e) {
        if (e.codeName !== 'UNAVAILABLE' && e.codeName !== 'DEADLINE_EXCEEDED') return; // it answered
      } finally {
        c.close();
      }
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`jobd exited (${this.child.exitCode ?? this.child.signalCode}) before it answered`);
      }
      if (Date.now() > end) throw new Error(`jobd does not answer at ${this.listen} after 10 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async startProxy() {
    this.proxy = spawn(env.proxy, [String(this.port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const rl = createInterface({ input: this.proxy.stdout });
    rl.on('line', (line) => {
      this.proxyLines.push(line);
      for (const w of this.proxyWaiters.splice(0)) w();
    });
    const line = await this.proxyLine(/^port (\d+)$/, 10000);
    this.address = `tcp://127.0.0.1:${line.match(/^port (\d+)$/)[1]}`;
  }

  /** Waits for a line of holdproxy's stdout that matches `re`. */
  async proxyLine(re, withinMs) {
    const end = Date.now() + withinMs;
    for (;;) {
      const hit = this.proxyLines.find((l) => re.test(l));
      if (hit !== undefined) return hit;
      const left = end - Date.now();
      if (left <= 0) throw new Error(`holdproxy did not print ${re} within ${withinMs} ms`);
      await new Promise((r) => {
        const t = setTimeout(r, left);
        this.proxyWaiters.push(() => { clearTimeout(t); r(); });
      });
    }
  }

  proxyHold() {
    this.proxy.kill('SIGUSR1');
  }

  /** Sends `signal` and waits for the exit; TERM must give 0, KILL 137 or killed. */
  async kill(signal) {
    const child = this.child;
    this.child = null;
    child.kill(`SIG${signal}`);
    const { code, signal: sig } = await exited(child);
    if (signal === 'TERM' && code !== 0) {
      throw new Error(`jobd exited ${code ?? sig} after SIGTERM, not 0`);
    }
    if (signal === 'KILL' && !(code === 137 || sig === 'SIGKILL')) {
      throw new Error(`jobd exited ${code ?? sig} after SIGKILL`);
    }
  }

  async restart(signal) {
    await this.kill(signal);
    await this.start();
  }

  /** The end of a scenario: SIGTERM jobd (it must exit 0) and holdproxy. */
  async teardown() {
    try {
      if (this.child !== null) await this.kill('TERM');
    } finally {
      if (this.proxy !== null) {
        this.proxy.kill('SIGTERM');
        await exited(this.proxy);
        this.proxy = null;
      }
    }
  }

  logText() {
    try {
      return readFileSync(this.log, 'utf8');
    } catch {
      return '(no log)';
    }
  }

  remove() {
    rmSync(this.dir, { recursive: true, force: true });
    if (this.pgname) pgAdmin(`DROP DATABASE IF EXISTS "${this.pgname}" WITH (FORCE)`);
  }
}

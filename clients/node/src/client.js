// client: the Client class, one method per RPC of proto/jobd.proto.
//
// A call: the method's request message is built from plain arguments
// (convert.js), wrapped in a Request envelope with its deadline and the
// metadata (the token, the user agent), and started on the client's one
// connection (connection.js), where it shares the stream with every other
// call in flight. The call then ends in exactly one of four ways:
//
// - the reply comes: OK gives the plain value, any other code its JobdError;
// - its deadline passes: the daemon, which got the deadline in the
//   envelope, answers DEADLINE_EXCEEDED itself; the client waits
//   DEADLINE_GRACE_MS longer for that answer and then gives up on its own
//   (at once, when it is not connected at the deadline);
// - its AbortSignal fires, or close() is called: CANCELLED;
// - the connection fails it (never connected: UNAVAILABLE; a reply over the
//   size limit: RESOURCE_EXHAUSTED).
// Whichever comes first settles the promise and takes the call back from
// the connection; what comes later is ignored.
//
// Deadlines: `timeoutMs` (default 10 s) for every call but wait, which has
// none unless the call gives `deadlineMs`. A Submit (and each job of a
// SubmitBatch) always carries an idempotency key, the caller's or a random
// one made once per call, so a re-send after a reconnect (connection.js)
// finds the job the first send made instead of making a second.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  CancelReplySchema, CancelRequestSchema, GetReplySchema, GetRequestSchema, KindsReplySchema,
  KindsRequestSchema, ListReplySchema, ListRequestSchema, PauseReplySchema, PauseRequestSchema,
  PingReplySchema, PingRequestSchema, ResumeReplySchema, ResumeRequestSchema, RetryReplySchema,
  RetryRequestSchema, SchedulesReplySchema, SchedulesRequestSchema, StatsReplySchema, StatsRequestSchema,
  SubmitBatchReplySchema, SubmitBatchRequestSchema, SubmitReplySchema, SubmitRequestSchema,
  WaitReplySchema, WaitRequestSchema,
} from './gen/jobd_pb.js';
import { Connection } from './connection.js';
import {
  decodeResponse, encodeRequest, fromJob, fromKind, fromSchedule, fromStats, fromSubmitReply, toAfter,
  toBytes, toDelayMs, toId, toParams, toRunAtMs, toState, toU64,
} from './convert.js';
import { Code, errorFor } from './errors.js';

/** The package's version, sent in the user-agent metadata. */
export const VERSION = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
).version;

/**
 * The largest request the client sends (request id and envelope): jobd's
 * own limit (LIMIT_MESSAGE_BYTES in daemon/limit.h). jobd closes the
 * connection of a larger message unanswered, which the client would take
 * for a lost connection and re-send into: the client refuses it first.
 */
export const MAX_REQUEST_BYTES = 2 * 1024 * 1024 + 64;
/** The largest reply the client takes; a larger one closes the connection. */
export const MAX_REPLY_BYTES = 16 * 1024 * 1024;
/** How much longer than a call's deadline the client waits for the daemon's own answer. */
export const DEADLINE_GRACE_MS = 1000;
const DEFAULT_TIMEOUT_MS = 10000;
const HANDSHAKE_TIMEOUT_MS = 10000;
const U32_MAX = 0xffffffff;

function checkMs(v, what) {
  if (!Number.isInteger(v) || v < 0 || v > U32_MAX) {
    throw new TypeError(`${what} must be an integer from 0 to ${U32_MAX} (ms)`);
  }
  return v;
}

function newKey() {
  return randomBytes(16).toString('hex');
}

export class Client {
  /**
   * @param {string} address tcp://HOST:PORT, tls+tcp://HOST:PORT or ipc://PATH
   * @param {{token?: string, tls?: {ca: string|Buffer, cert?: string|Buffer, key?: string|Buffer, serverName?: string},
   *          timeoutMs?: number}} [options]
   */
  constructor(address, options = {}) {
    const { token, tls, timeoutMs = DEFAULT_TIMEOUT_MS } = options;
    this.address = address;
    this.timeoutMs = checkMs(timeoutMs, 'timeoutMs');
    this.metadata = { 'user-agent': `jobd-node/${VERSION}` };
    if (token !== undefined && token !== null) {
      if (typeof token !== 'string' || token === '') throw new TypeError('token must be a non-empty string');
      this.metadata.authorization = `Bearer ${token}`;
    }
    this.conn = new Connection(address, {
      tls, maxReply: MAX_REPLY_BYTES, handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
    });
    this.closed = false;
    this.settlers = new Set(); // the calls in flight, for close()
  }

  /**
   * One RPC: resolves with the decoded reply message (generated type; the
   * public methods turn it into plain values), rejects with a JobdError.
   */
  call(method, reqSchema, req, replySchema, opts, defaultDeadline) {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(errorFor(Code.UNAVAILABLE, `the client of ${this.address} is closed`));
        return;
      }
      const signal = opts?.signal;
      if (signal?.aborted) {
        reject(errorFor(Code.CANCELLED, 'the call was aborted'));
        return;
      }
      const deadline = checkMs(opts?.deadlineMs ?? defaultDeadline, 'deadlineMs');
      const body = toBinary(reqSchema, create(reqSchema, req));
      const payload = encodeRequest(method, body, deadline, this.metadata);
      if (payload.length + 4 > MAX_REQUEST_BYTES) {
        reject(errorFor(Code.RESOURCE_EXHAUSTED,
          `a ${method} request of ${payload.length + 4} bytes, over the client's limit of ${MAX_REQUEST_BYTES}`));
        return;
      }
      let id = null;
      let timer = null;
      let done = false;
      const settle = (err, value) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.settlers.delete(settle);
        if (id !== null) this.conn.abandon(id);
        if (err) reject(err);
        else resolve(value);
      };
      const onAbort = () => settle(errorFor(Code.CANCELLED, 'the call was aborted'));
      const call = {
        payload,
        onReply: (bytes) => {
          id = null; // the connection has forgotten it already
          let r;
          try {
            r = decodeResponse(bytes);
            if (r.code !== Code.OK) {
              settle(errorFor(r.code, r.message));
              return;
            }
            settle(null, fromBinary(replySchema, r.body));
          } catch (e) {
            settle(e.code !== undefined ? e : errorFor(Code.INTERNAL, `cannot decode the ${method} reply: ${e.message}`));
          }
        },
        onError: (err) => {
          id = null;
          settle(err);
        },
      };
      if (deadline > 0) {
        timer = setTimeout(() => {
          if (!this.conn.isOpen) {
            settle(errorFor(Code.DEADLINE_EXCEEDED,
              `deadline of ${deadline} ms exceeded while not connected to ${this.address}`));
            return;
          }
          timer = setTimeout(() => settle(errorFor(Code.DEADLINE_EXCEEDED,
            `deadline of ${deadline} ms exceeded with no reply from ${this.address}`)), DEADLINE_GRACE_MS);
        }, deadline);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.settlers.add(settle);
      const started = this.conn.start(call);
      if (!done) id = started; // a failed dial may have settled it already
    });
  }

  /**
   * Submits one job. Resolves with {job, existing}. Besides the job's
   * fields (input, priority, jobTimeoutMs, maxAttempts, idempotencyKey):
   * runAt (a Date) or delayMs: not to start before then (state
   * 'scheduled'); after: ids or Jobs that must succeed first; uniqueKey:
   * while a job with this key is scheduled, queued or running, that job
   * is the answer (existing: true).
   */
  async submit(kind, params = {}, opts = {}) {
    const req = this.submitRequest({ ...opts, kind, params });
    const r = await this.call('Submit', SubmitRequestSchema, req, SubmitReplySchema, opts, this.timeoutMs);
    return fromSubmitReply(r);
  }

  submitRequest(j) {
    if (typeof j.kind !== 'string') throw new TypeError('kind must be a string');
    return {
      kind: j.kind,
      params: toParams(j.params),
      input: toBytes(j.input, 'input'),
      priority: j.priority ?? 0,
      timeoutMs: j.jobTimeoutMs ?? 0,
      maxAttempts: j.maxAttempts ?? 0,
      idempotencyKey: j.idempotencyKey || newKey(),
      runAtMs: toRunAtMs(j.runAt),
      delayMs: toDelayMs(j.delayMs),
      after: toAfter(j.after),
      uniqueKey: j.uniqueKey ?? '',
    };
  }

  /** Submits 1 to 1000 jobs at once, all or none. Resolves with [{job, existing}, ...] in order. */
  async submitBatch(jobs, opts = {}) {
    if (!Array.isArray(jobs)) throw new TypeError('jobs must be an array');
    const req = { jobs: jobs.map((j) => this.submitRequest(j)) };
    const r = await this.call('SubmitBatch', SubmitBatchRequestSchema, req, SubmitBatchReplySchema, opts,
      this.timeoutMs);
    return r.jobs.map(fromSubmitReply);
  }

  /** Gets one job; rejects with NotFound when the daemon does not know it. */
  async get(id, opts = {}) {
    const want = toId(id);
    const { jobs } = await this.getMany([want], opts);
    if (jobs.length === 0) throw errorFor(Code.NOT_FOUND, `job ${want} not found`);
    return jobs[0];
  }

  /** Gets several jobs: {jobs, missing} (the ids the daemon does not know). */
  async getMany(ids, opts = {}) {
    if (!Array.isArray(ids)) throw new TypeError('ids must be an array');
    const req = { ids: ids.map(toId) };
    const r = await this.call('Get', GetRequestSchema, req, GetReplySchema, opts, this.timeoutMs);
    return { jobs: r.jobs.map(fromJob), missing: [...r.missing] };
  }

  /** Waits until the job has ended (a failed job is an answer, not an error); no deadline unless given. */
  async wait(id, opts = {}) {
    const r = await this.call('Wait', WaitRequestSchema, { id: toId(id) }, WaitReplySchema, opts, 0);
    return fromJob(r.job);
  }

  /** Cancels a job; resolves with the job as it is then. */
  async cancel(id, opts = {}) {
    const r = await this.call('Cancel', CancelRequestSchema, { id: toId(id) }, CancelReplySchema, opts,
      this.timeoutMs);
    return fromJob(r.job);
  }

  /** One page of jobs, newest first: {jobs, nextCursor} (0n: no more pages). */
  async list(filter = {}, opts = {}) {
    const req = {
      state: toState(filter.state),
      kind: filter.kind ?? '',
      limit: filter.limit ?? 0,
      cursor: filter.cursor === undefined || filter.cursor === null ? 0n : toU64(filter.cursor, 'cursor'),
    };
    const r = await this.call('List', ListRequestSchema, req, ListReplySchema, opts, this.timeoutMs);
    return { jobs: r.jobs.map(fromJob), nextCursor: r.nextCursor };
  }

  /** Every job that matches, page after page. */
  async *listAll(filter = {}, opts = {}) {
    let cursor = 0n;
    do {
      const page = await this.list({ ...filter, cursor }, opts);
      yield* page.jobs;
      cursor = page.nextCursor;
    } while (cursor !== 0n);
  }

  /** The daemon's counters (64-bit ones as bigint). */
  async stats(opts = {}) {
    const r = await this.call('Stats', StatsRequestSchema, {}, StatsReplySchema, opts, this.timeoutMs);
    return fromStats(r);
  }

  /** The kinds the daemon runs, with their parameters. */
  async kinds(opts = {}) {
    const r = await this.call('Kinds', KindsRequestSchema, {}, KindsReplySchema, opts, this.timeoutMs);
    return r.kinds.map(fromKind);
  }

  /**
   * Puts a failed or cancelled job back in the queue as a new run with the
   * same id; resolves with the job (reruns + 1, the ended run in history).
   * FailedPrecondition for a job that succeeded or has not ended.
   */
  async retry(id, opts = {}) {
    const r = await this.call('Retry', RetryRequestSchema, { id: toId(id) }, RetryReplySchema, opts,
      this.timeoutMs);
    return fromJob(r.job);
  }

  /** Pauses a kind: its queued jobs wait, running ones finish. Resolves true if it was not paused. */
  async pause(kind, opts = {}) {
    if (typeof kind !== 'string') throw new TypeError('kind must be a string');
    const r = await this.call('Pause', PauseRequestSchema, { kind }, PauseReplySchema, opts, this.timeoutMs);
    return r.changed;
  }

  /** Resumes a paused kind. Resolves true if it was paused. */
  async resume(kind, opts = {}) {
    if (typeof kind !== 'string') throw new TypeError('kind must be a string');
    const r = await this.call('Resume', ResumeRequestSchema, { kind }, ResumeReplySchema, opts, this.timeoutMs);
    return r.changed;
  }

  /** The periodic jobs the operator declared, each with its next firing. */
  async schedules(opts = {}) {
    const r = await this.call('Schedules', SchedulesRequestSchema, {}, SchedulesReplySchema, opts, this.timeoutMs);
    return r.schedules.map(fromSchedule);
  }

  /** Ping: {payload (echoed), version, time (the daemon's clock, a Date)}. */
  async ping(payload, opts = {}) {
    const r = await this.call('Ping', PingRequestSchema, { payload: toBytes(payload, 'payload') }, PingReplySchema,
      opts, this.timeoutMs);
    return {
      payload: Buffer.from(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength),
      version: r.version,
      time: new Date(Number(r.timeMs)),
    };
  }

  /** Closes the client: calls in flight reject with CANCELLED, later calls with UNAVAILABLE. */
  close() {
    if (this.closed) return;
    this.closed = true;
    const err = () => errorFor(Code.CANCELLED, 'the client was closed');
    for (const settle of [...this.settlers]) settle(err());
    this.conn.close(err());
  }
}

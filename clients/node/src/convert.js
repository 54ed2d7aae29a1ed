// convert: the envelope (Request/Response of proto/jobd.proto) and the
// turning of generated protobuf messages into plain values and back.
//
// The generated code (@bufbuild/protobuf v2, src/gen/jobd_pb.js) stops in
// this file: what the client returns is plain objects, never a message
// class. 64-bit fields are bigint (ids, counters, cursors), 32-bit ones
// numbers, times Date (null when the daemon says 0), bytes Buffer, states
// and parameter types lower-case strings.
//
// The scheduling arguments of a submit are checked here before anything is
// sent: runAt a valid Date, delayMs a non-negative integer (TypeError
// otherwise), `after` an array of job ids or Jobs (INVALID_ARGUMENT for an
// id that is not one, as everywhere ids are taken). What only the daemon
// can judge (a time too far ahead, runAt and delayMs together, an unknown
// id) is left to its answer.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { JobSchema, JobState, Param_Type, RequestSchema, ResponseSchema } from './gen/jobd_pb.js';
import { Code, errorFor } from './errors.js';

const U64_MAX = (1n << 64n) - 1n;

const stateNames = {
  [JobState.QUEUED]: 'queued',
  [JobState.RUNNING]: 'running',
  [JobState.SUCCEEDED]: 'succeeded',
  [JobState.FAILED]: 'failed',
  [JobState.CANCELLED]: 'cancelled',
  [JobState.SCHEDULED]: 'scheduled',
};
const stateByName = Object.fromEntries(Object.entries(stateNames).map(([k, v]) => [v, Number(k)]));

const typeNames = {
  [Param_Type.INT]: 'int',
  [Param_Type.STRING]: 'string',
  [Param_Type.BOOL]: 'bool',
  [Param_Type.CHOICE]: 'choice',
};

/** Serializes a Request envelope. */
export function encodeRequest(method, body, deadlineMs, metadata) {
  return toBinary(RequestSchema, create(RequestSchema, { method, body, deadlineMs, metadata }));
}

/** Parses a Response envelope: {code, message, body}; throws INTERNAL for bytes that are not one. */
export function decodeResponse(bytes) {
  try {
    const r = fromBinary(ResponseSchema, bytes);
    return { code: r.code, message: r.message, body: r.body };
  } catch (e) {
    throw errorFor(Code.INTERNAL, `cannot decode jobd's reply: ${e.message}`);
  }
}

/** A job id from a bigint, a safe non-negative integer or a decimal string; throws INVALID_ARGUMENT. */
export function toId(v) {
  let id;
  if (typeof v === 'bigint') id = v;
  else if (typeof v === 'number' && Number.isSafeInteger(v)) id = BigInt(v);
  else if (typeof v === 'string' && /^[0-9]{1,20}$/.test(v)) id = BigInt(v);
  else throw errorFor(Code.INVALID_ARGUMENT, `invalid job id ${typeof v === 'string' ? `'${v}'` : String(v)}`);
  if (id < 0n || id > U64_MAX) throw errorFor(Code.INVALID_ARGUMENT, `job id ${id} out of range`);
  return id;
}

/** A uint64 (cursor) from a bigint, number or decimal string. */
export function toU64(v, what) {
  try {
    return toId(v);
  } catch {
    throw errorFor(Code.INVALID_ARGUMENT, `invalid ${what} ${String(v)}`);
  }
}

/** A job state's number from its name ('queued', ...); undefined or '' = any. */
export function toState(name) {
  if (name === undefined || name === null || name === '') return JobState.UNSPECIFIED;
  const s = stateByName[name];
  if (s === undefined) {
    throw errorFor(Code.INVALID_ARGUMENT,
      `unknown job state '${name}' (queued, running, succeeded, failed, cancelled or scheduled)`);
  }
  return s;
}

/** Bytes from a string (UTF-8), a Buffer or a Uint8Array. */
export function toBytes(v, what) {
  if (v === undefined || v === null) return new Uint8Array(0);
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (v instanceof Uint8Array) return v;
  throw new TypeError(`${what} must be a string, a Buffer or a Uint8Array`);
}

/** Parameters as strings: numbers, bigints and booleans are turned into their decimal text. */
export function toParams(params) {
  const out = {};
  if (params === undefined || params === null) return out;
  for (const [k, v] of Object.entries(params)) {
    if (typeof v === 'string') out[k] = v;
    else if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') out[k] = String(v);
    else throw new TypeError(`parameter '${k}' must be a string, number, bigint or boolean`);
  }
  return out;
}

/** A runAt Date as Unix ms (bigint); undefined/null = 0 (now). TypeError for anything else. */
export function toRunAtMs(v) {
  if (v === undefined || v === null) return 0n;
  if (!(v instanceof Date) || Number.isNaN(v.getTime())) {
    throw new TypeError('runAt must be a valid Date');
  }
  return BigInt(v.getTime());
}

/** A delayMs (a non-negative integer number or bigint of ms) as a bigint; undefined/null = 0 (now). */
export function toDelayMs(v) {
  if (v === undefined || v === null) return 0n;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'bigint' && v >= 0n && v <= U64_MAX) return v;
  throw new TypeError(`delayMs must be a non-negative integer (ms), not ${String(v)}`);
}

/** The ids of `after`: an array of job ids (bigint, number, decimal string) or Jobs ({id}). */
export function toAfter(v) {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new TypeError('after must be an array of job ids or Jobs');
  return v.map((a) => toId(a !== null && typeof a === 'object' && 'id' in a ? a.id : a));
}

function toBuffer(u8) {
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

function toDate(ms) {
  return ms === 0n ? null : new Date(Number(ms));
}

/** A plain Job from a generated jobd.v1.Job. */
export function fromJob(j) {
  return {
    id: j.id,
    kind: j.kind,
    params: { ...j.params },
    priority: j.priority,
    state: stateNames[j.state] ?? `unknown(${j.state})`,
    attempts: j.attempts,
    maxAttempts: j.maxAttempts,
    timeoutMs: j.timeoutMs,
    progressDone: j.progressDone,
    progressTotal: j.progressTotal,
    result: toBuffer(j.result),
    error: j.error,
    createdAt: toDate(j.createdAtMs),
    startedAt: toDate(j.startedAtMs),
    finishedAt: toDate(j.finishedAtMs),
    idempotencyKey: j.idempotencyKey,
    inputSize: j.inputSize,
    waiting: j.waiting,
    runAt: toDate(j.runAtMs),
    after: [...j.after],
    reruns: j.reruns,
    history: j.history.map((r) => ({
      state: stateNames[r.state] ?? `unknown(${r.state})`,
      error: r.error,
      attempts: r.attempts,
      startedAt: toDate(r.startedAtMs),
      finishedAt: toDate(r.finishedAtMs),
    })),
    uniqueKey: j.uniqueKey,
  };
}

/** A plain Schedule from a generated jobd.v1.Schedule. */
export function fromSchedule(s) {
  return {
    name: s.name,
    kind: s.kind,
    params: { ...s.params },
    spec: s.spec,
    timeZone: s.timeZone,
    catchUp: s.catchUp,
    nextAt: new Date(Number(s.nextAtMs)),
    lastAt: toDate(s.lastAtMs),
    lastJobId: s.lastJobId === 0n ? null : s.lastJobId,
    source: s.source,
    priority: s.priority,
  };
}

export function fromSubmitReply(r) {
  return { job: fromJob(r.job ?? create(JobSchema)), existing: r.existing };
}

export function fromKind(k) {
  return {
    name: k.name,
    description: k.description,
    params: k.params.map((p) => ({
      name: p.name,
      type: typeNames[p.type] ?? 'unspecified',
      required: p.required,
      min: p.min,
      max: p.max,
      defaultValue: p.defaultValue,
      description: p.description,
      choices: [...p.choices],
    })),
    usesInput: k.usesInput,
    origin: k.origin,
    source: k.source,
    concurrency: k.concurrency,
    maxInput: k.maxInput,
    paused: k.paused,
  };
}

/** A plain object of every StatsReply field (uint64/int64 as bigint). */
export function fromStats(s) {
  const { $typeName, ...rest } = s; // eslint-disable-line no-unused-vars
  return { ...rest, pausedKinds: [...s.pausedKinds], finishedRecent: [...s.finishedRecent] };
}

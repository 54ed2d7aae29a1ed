// Type declarations of jobd-client's public API (hand-written; the
// generated protobuf types never leak out of the package).

/** A job's state. */
/** 'scheduled': waits for its runAt (a delayed job, or a retry backoff). */
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'scheduled';
/** A job id: a bigint, a safe non-negative integer, or a decimal string. */
export type JobId = bigint | number | string;
/** A parameter value; numbers, bigints and booleans are sent as their decimal text. */
export type ParamValue = string | number | bigint | boolean;

export interface Job {
  id: bigint;
  kind: string;
  params: Record<string, string>;
  priority: number;
  state: JobState;
  attempts: number;
  maxAttempts: number;
  /** The job's own time limit, ms; 0 = none. */
  timeoutMs: number;
  progressDone: bigint;
  progressTotal: bigint;
  /** Set when succeeded (get, wait, cancel); empty in list and submit replies. */
  result: Buffer;
  /** Set when failed or cancelled. */
  error: string;
  createdAt: Date | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  idempotencyKey: string;
  inputSize: number;
  /** Queued: why it does not start when a worker is free ('' = nothing holds it): 'kind paused', 'after job 12', ... */
  waiting: string;
  /** Not to start before this time (set while 'scheduled'); null = none. */
  runAt: Date | null;
  /** The jobs it runs after: each must succeed first. */
  after: bigint[];
  /** Times retry() put it back in the queue. */
  reruns: number;
  /** Its earlier runs, oldest first (get, wait, cancel, retry; empty in list and submit replies). */
  history: Run[];
  /** Its unique key ('' = none). */
  uniqueKey: string;
}

/** One earlier run of a job that retry() put back in the queue. */
export interface Run {
  /** How it ended: 'failed' or 'cancelled'. */
  state: JobState;
  error: string;
  /** Attempts it made. */
  attempts: number;
  startedAt: Date | null;
  finishedAt: Date | null;
}

/** A periodic job the operator declared (a *.schedule file beside the kind files). */
export interface Schedule {
  name: string;
  kind: string;
  params: Record<string, string>;
  /** 'cron 30 3 * * *' or 'every 5m'. */
  spec: string;
  /** cron: the zone its times are in. */
  timeZone: string;
  /** 'one', 'all' or 'none': what a start after missed firings does. */
  catchUp: string;
  /** The next firing. */
  nextAt: Date;
  /** The last firing; null = none yet. */
  lastAt: Date | null;
  /** The job the last firing made; null = none yet. */
  lastJobId: bigint | null;
  /** The file it comes from. */
  source: string;
  priority: number;
}

export interface SubmitReply {
  job: Job;
  /** true: the idempotency key (or the unique key of a live job) matched an earlier job, which this is. */
  existing: boolean;
}

export interface CallOptions {
  /** The call's deadline in ms (default: the client's timeoutMs; for wait, none). 0 = none. */
  deadlineMs?: number;
  /** Aborting rejects the call with Cancelled. */
  signal?: AbortSignal;
}

export interface JobSpec {
  /** Bytes, or a string sent as UTF-8. */
  input?: string | Uint8Array;
  /** Higher runs first; FIFO within one priority. */
  priority?: number;
  /** The job's own time limit, ms; 0 = none. */
  jobTimeoutMs?: number;
  /** Attempts in all; 0 = 1 (no retry). */
  maxAttempts?: number;
  /** The same key again returns the first job; without one the client makes a random key per job. */
  idempotencyKey?: string;
  /** Not to start before this time (state 'scheduled' until then; a past time runs now; at most 10 years ahead). */
  runAt?: Date;
  /** Or: not to start before this many ms after the daemon's receipt. Not with runAt. */
  delayMs?: number | bigint;
  /** Jobs (ids or Jobs, at most 64) that must each succeed first; if one fails or is cancelled, so is this one. */
  after?: Array<JobId | Job>;
  /** While a job with this key is scheduled, queued or running, submit answers that job (existing: true). */
  uniqueKey?: string;
}

export interface SubmitOptions extends JobSpec, CallOptions {}

export interface BatchJob extends JobSpec {
  kind: string;
  params?: Record<string, ParamValue>;
}

export interface ListFilter {
  state?: JobState;
  kind?: string;
  /** Jobs per page: 0 = 100, at most 1000. */
  limit?: number;
  /** nextCursor of the previous page; 0 = start. */
  cursor?: bigint | number | string;
}

export interface ListReply {
  jobs: Job[];
  /** 0n: no more pages. */
  nextCursor: bigint;
}

export interface Stats {
  workers: number;
  busyWorkers: number;
  queued: bigint;
  running: bigint;
  succeeded: bigint;
  failed: bigint;
  cancelled: bigint;
  maxQueue: bigint;
  uptimeMs: bigint;
  submitted: bigint;
  retried: bigint;
  recovered: bigint;
  version: string;
  waitingKind: bigint;
  connections: number;
  parkedCalls: bigint;
  droppedReplies: bigint;
  refusedCalls: bigint;
  commits: bigint;
  /** Jobs scheduled (delayed, or waiting out a retry backoff). */
  scheduled: bigint;
  /** The kinds paused, by name. */
  pausedKinds: string[];
  /** Jobs ended in each of the last intervals of finishedRecentStepMs,
   * oldest first, the current one last. */
  finishedRecent: number[];
  finishedRecentStepMs: number;
}

export interface KindParam {
  name: string;
  type: 'int' | 'string' | 'bool' | 'choice' | 'unspecified';
  required: boolean;
  min: bigint;
  max: bigint;
  defaultValue: string;
  description: string;
  choices: string[];
}

export interface Kind {
  name: string;
  description: string;
  params: KindParam[];
  usesInput: boolean;
  /** 'built-in', 'program' or 'plugin'. */
  origin: string;
  source: string;
  concurrency: number;
  maxInput: number;
  /** Paused: its queued jobs do not start. */
  paused: boolean;
}

export interface PingReply {
  payload: Buffer;
  version: string;
  /** The daemon's clock. */
  time: Date;
}

export interface TlsOptions {
  /** PEM of the CA that signed the daemon's certificate (always verified). */
  ca: string | Buffer | Array<string | Buffer>;
  /** PEM of a client certificate and its key, if the daemon asks for one. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** The name the certificate must hold (default: the address's host, unless it is an IP address). */
  serverName?: string;
}

export interface ClientOptions {
  /** Sent as "authorization: Bearer TOKEN". */
  token?: string;
  /** Required for tls+tcp:// addresses. */
  tls?: TlsOptions;
  /** The default deadline of every call but wait, ms (default 10000; 0 = none). */
  timeoutMs?: number;
}

export declare const VERSION: string;
export declare const MAX_REQUEST_BYTES: number;
export declare const MAX_REPLY_BYTES: number;
export declare const DEADLINE_GRACE_MS: number;

export declare class Client {
  /** address: tcp://HOST:PORT, tls+tcp://HOST:PORT or ipc://PATH. Connects on the first call. */
  constructor(address: string, options?: ClientOptions);
  readonly address: string;
  submit(kind: string, params?: Record<string, ParamValue>, options?: SubmitOptions): Promise<SubmitReply>;
  submitBatch(jobs: BatchJob[], options?: CallOptions): Promise<SubmitReply[]>;
  /** Rejects with NotFound when the daemon does not know the job. */
  get(id: JobId, options?: CallOptions): Promise<Job>;
  getMany(ids: JobId[], options?: CallOptions): Promise<{ jobs: Job[]; missing: bigint[] }>;
  /** Resolves when the job has ended; a failed job resolves (state 'failed'). */
  wait(id: JobId, options?: CallOptions): Promise<Job>;
  cancel(id: JobId, options?: CallOptions): Promise<Job>;
  list(filter?: ListFilter, options?: CallOptions): Promise<ListReply>;
  listAll(filter?: Omit<ListFilter, 'cursor'>, options?: CallOptions): AsyncGenerator<Job, void, undefined>;
  stats(options?: CallOptions): Promise<Stats>;
  kinds(options?: CallOptions): Promise<Kind[]>;
  /** Puts a failed or cancelled job back in the queue (reruns + 1, the ended run in history); FailedPrecondition otherwise. */
  retry(id: JobId, options?: CallOptions): Promise<Job>;
  /** Pauses a kind; resolves true if it was not paused. NotFound for an unknown kind. */
  pause(kind: string, options?: CallOptions): Promise<boolean>;
  /** Resumes a kind; resolves true if it was paused. */
  resume(kind: string, options?: CallOptions): Promise<boolean>;
  /** The periodic jobs the operator declared. */
  schedules(options?: CallOptions): Promise<Schedule[]>;
  ping(payload?: string | Uint8Array, options?: CallOptions): Promise<PingReply>;
  /** Calls in flight reject with Cancelled; later calls with Unavailable. */
  close(): void;
}

/** gRPC's status codes, by name. */
export declare const Code: Readonly<{
  OK: 0; CANCELLED: 1; UNKNOWN: 2; INVALID_ARGUMENT: 3; DEADLINE_EXCEEDED: 4; NOT_FOUND: 5;
  ALREADY_EXISTS: 6; PERMISSION_DENIED: 7; RESOURCE_EXHAUSTED: 8; FAILED_PRECONDITION: 9; ABORTED: 10;
  OUT_OF_RANGE: 11; UNIMPLEMENTED: 12; INTERNAL: 13; UNAVAILABLE: 14; DATA_LOSS: 15; UNAUTHENTICATED: 16;
}>;
export declare function codeName(code: number): string;

export declare class JobdError extends Error {
  constructor(code: number, details: string);
  /** The status code, a number (gRPC's). */
  readonly code: number;
  /** Its name: 'NOT_FOUND'. */
  readonly codeName: string;
  /** The daemon's (or the client's) message alone; message is 'CODE_NAME: details'. */
  readonly details: string;
}
export declare class Cancelled extends JobdError { constructor(details: string); }
export declare class Unknown extends JobdError { constructor(details: string); }
export declare class InvalidArgument extends JobdError { constructor(details: string); }
export declare class DeadlineExceeded extends JobdError { constructor(details: string); }
export declare class NotFound extends JobdError { constructor(details: string); }
export declare class AlreadyExists extends JobdError { constructor(details: string); }
export declare class PermissionDenied extends JobdError { constructor(details: string); }
export declare class ResourceExhausted extends JobdError { constructor(details: string); }
export declare class FailedPrecondition extends JobdError { constructor(details: string); }
export declare class Aborted extends JobdError { constructor(details: string); }
export declare class OutOfRange extends JobdError { constructor(details: string); }
export declare class Unimplemented extends JobdError { constructor(details: string); }
export declare class Internal extends JobdError { constructor(details: string); }
export declare class Unavailable extends JobdError { constructor(details: string); }
export declare class DataLoss extends JobdError { constructor(details: string); }
export declare class Unauthenticated extends JobdError { constructor(details: string); }

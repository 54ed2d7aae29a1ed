// errors: one Error class per status code.
//
// jobd answers with gRPC's status codes (proto/jobd.proto, enum Code), and
// the client raises the same codes for what it finds itself (UNAVAILABLE
// when the daemon cannot be reached, DEADLINE_EXCEEDED when a call's own
// deadline passes, CANCELLED for an aborted call or a closed client,
// RESOURCE_EXHAUSTED for a request over the size limit). Every error is a
// JobdError with `.code` (the number), `.codeName` ('NOT_FOUND') and
// `.details` (the daemon's or the client's message alone); `.message` is
// 'CODE_NAME: details'. Each code has its own subclass, so callers can
// write `catch (e) { if (e instanceof NotFound) ... }`.

/** The gRPC status codes, by name. */
export const Code = Object.freeze({
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
});

const codeNames = Object.fromEntries(Object.entries(Code).map(([k, v]) => [v, k]));

/** The name of a status code ('NOT_FOUND'), or 'CODE_n' for one jobd does not define. */
export function codeName(code) {
  return codeNames[code] ?? `CODE_${code}`;
}

export class JobdError extends Error {
  constructor(code, details) {
    super(`${codeName(code)}: ${details}`);
    this.name = 'JobdError';
    this.code = code;
    this.codeName = codeName(code);
    this.details = details;
  }
}

function subclass(name, code) {
  const cls = {
    [name]: class extends JobdError {
      constructor(details) {
        super(code, details);
        this.name = name;
      }
    },
  }[name];
  return cls;
}

export const Cancelled = subclass('Cancelled', Code.CANCELLED);
export const Unknown = subclass('Unknown', Code.UNKNOWN);
export const InvalidArgument = subclass('InvalidArgument', Code.INVALID_ARGUMENT);
export const DeadlineExceeded = subclass('DeadlineExceeded', Code.DEADLINE_EXCEEDED);
export const NotFound = subclass('NotFound', Code.NOT_FOUND);
export const AlreadyExists = subclass('AlreadyExists', Code.ALREADY_EXISTS);
export const PermissionDenied = subclass('PermissionDenied', Code.PERMISSION_DENIED);
export const ResourceExhausted = subclass('ResourceExhausted', Code.RESOURCE_EXHAUSTED);
export const FailedPrecondition = subclass('FailedPrecondition', Code.FAILED_PRECONDITION);
export const Aborted = subclass('Aborted', Code.ABORTED);
export const OutOfRange = subclass('OutOfRange', Code.OUT_OF_RANGE);
export const Unimplemented = subclass('Unimplemented', Code.UNIMPLEMENTED);
export const Internal = subclass('Internal', Code.INTERNAL);
export const Unavailable = subclass('Unavailable', Code.UNAVAILABLE);
export const DataLoss = subclass('DataLoss', Code.DATA_LOSS);
export const Unauthenticated = subclass('Unauthenticated', Code.UNAUTHENTICATED);

const byCode = {
  [Code.CANCELLED]: Cancelled,
  [Code.UNKNOWN]: Unknown,
  [Code.INVALID_ARGUMENT]: InvalidArgument,
  [Code.DEADLINE_EXCEEDED]: DeadlineExceeded,
  [Code.NOT_FOUND]: NotFound,
  [Code.ALREADY_EXISTS]: AlreadyExists,
  [Code.PERMISSION_DENIED]: PermissionDenied,
  [Code.RESOURCE_EXHAUSTED]: ResourceExhausted,
  [Code.FAILED_PRECONDITION]: FailedPrecondition,
  [Code.ABORTED]: Aborted,
  [Code.OUT_OF_RANGE]: OutOfRange,
  [Code.UNIMPLEMENTED]: Unimplemented,
  [Code.INTERNAL]: Internal,
  [Code.UNAVAILABLE]: Unavailable,
  [Code.DATA_LOSS]: DataLoss,
  [Code.UNAUTHENTICATED]: Unauthenticated,
};

/** The error for a status code and message: its subclass, or a JobdError for an unknown code. */
export function errorFor(code, details) {
  const cls = byCode[code];
  return cls ? new cls(details) : new JobdError(code, details);
}

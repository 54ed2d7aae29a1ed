// jobd-client: the Node.js client of jobd. See README.md.
export { Client, VERSION, MAX_REQUEST_BYTES, MAX_REPLY_BYTES, DEADLINE_GRACE_MS } from './src/client.js';
export {
  Code, codeName, JobdError, Cancelled, Unknown, InvalidArgument, DeadlineExceeded, NotFound, AlreadyExists,
  PermissionDenied, ResourceExhausted, FailedPrecondition, Aborted, OutOfRange, Unimplemented, Internal,
  Unavailable, DataLoss, Unauthenticated,
} from './src/errors.js';

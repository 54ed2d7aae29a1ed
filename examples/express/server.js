// server.js: the seed's Express app, with its blocking loop run by jobd.
//
// The seed had two routes: /non-blocking answered at once, /blocking
// counted to twenty billion inline and so stalled the event loop, and every
// other request with it. Here /blocking submits that loop to jobd as a job
// of the program kind `count-js` (examples/kinds: `node count.js N` in a
// process of its own, run by one of jobd's workers) and answers with the
// job's result, the number counted to. The event loop only waits on a
// socket, so /non-blocking keeps answering at once; and a burst of
// /blocking requests costs no thread and no process here: the jobs jobd has
// no free worker for wait in jobd's queue (on disk), not in this process.
//
// One jobd-client Client, made at start, serves every request: its one
// connection carries many calls at once (a Submit, many Waits), and it
// reconnects by itself.
//
// A request, in order:
//   1. Submit count-js with n (the query's n, or the seed's 20 billion). No
//      AbortSignal here: a Submit is short, and one abandoned half-way would
//      leave a job whose id we never learnt. jobd checks n (a whole number,
//      1 to 1e11): a bad one is INVALID_ARGUMENT, answered 400.
//   2. Wait for the job, in slices of WAIT_SLICE_MS (each a Wait call with
//      that deadline, DEADLINE_EXCEEDED meaning "not yet"), with the
//      request's AbortSignal: when the HTTP client goes away ('close' on the
//      response before it was sent), the Wait is abandoned and the job
//      cancelled in jobd, so nobody's job runs for a client that left.
//   3. Answer the job's stdout (e.g. "20000000000\n") when it succeeded;
//      500 with jobd's error when it failed or was cancelled.
// A jobd error answers with the status of its code (HTTP_STATUS) and its
// message as the body, text/plain.
//
// Configuration, from the environment: JOBD_ADDR (tcp://127.0.0.1:7077),
// JOBD_TOKEN (the daemon's --auth-token-file token, if it has one), PORT
// (3000; 0 picks a free port). The line "listening on http://HOST:PORT" on
// stdout says where. SIGTERM and SIGINT stop the server: open /blocking
// requests are abandoned (their jobs cancelled) and the process exits.
import express from 'express';
import { Client, JobdError } from 'jobd-client';

const KIND = 'count-js';
const DEFAULT_N = '20000000000'; // the seed's loop
const CALL_DEADLINE_MS = 10_000; // Submit and Cancel
const WAIT_SLICE_MS = 60_000; // one Wait call; then another

// jobd's status codes (gRPC's) as HTTP statuses; any other code is 500.
const HTTP_STATUS = {
  INVALID_ARGUMENT: 400,
  OUT_OF_RANGE: 400,
  RESOURCE_EXHAUSTED: 503, // jobd's queue is full: come back later
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
};

const addr = process.env.JOBD_ADDR || 'tcp://127.0.0.1:7077';
const port = Number(process.env.PORT ?? 3000);
const token = process.env.JOBD_TOKEN || undefined;
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`server.js: PORT must be a port number, not '${process.env.PORT}'`);
  process.exit(2);
}

const jobd = new Client(addr, { token, timeoutMs: CALL_DEADLINE_MS });
const open = new Set(); // the AbortControllers of the /blocking requests

// code(err): the name of a jobd error's status code ('NOT_FOUND'), or
// undefined for any other error.
function code(err) {
  return err instanceof JobdError ? err.codeName : undefined;
}

// waitEnded(id, signal): the job once it has ended; rejects with the
// client's Cancelled when signal aborts, or with the JobdError of a failed
// Wait.
async function waitEnded(id, signal) {
  for (;;) {
    try {
      return await jobd.wait(id, { deadlineMs: WAIT_SLICE_MS, signal });
    } catch (err) {
      if (code(err) !== 'DEADLINE_EXCEEDED' || signal.aborted) throw err;
    }
  }
}

// cancel(id, why): asks jobd to cancel the job, and logs it with why; a job
// that has already ended (FAILED_PRECONDITION) is left alone, any other
// failure only logged.
async function cancel(id, why) {
  try {
    await jobd.cancel(id, { deadlineMs: CALL_DEADLINE_MS });
    console.error(`server.js: job ${id} cancelled: ${why}`);
  } catch (err) {
    if (code(err) !== 'FAILED_PRECONDITION')
      console.error(`server.js: cancel of job ${id} failed: ${err.message}`);
  }
}

function fail(res, status, message) {
  if (!res.headersSent) res.status(status).type('text/plain').send(`${message}\n`);
}

const app = express();

app.get('/non-blocking', (req, res) => {
  res.send('This page is non-blocking');
});

app.get('/blocking', async (req, res) => {
  const n = req.query.n ?? DEFAULT_N;
  if (typeof n !== 'string') return fail(res, 400, 'n must be given once, as a number');

  const ac = new AbortController();
  const gone = () => {
    if (!res.writableEnded) ac.abort();
  };
  res.on('close', gone);
  open.add(ac);
  let id;
  try {
    const { job } = await jobd.submit(KIND, { n }, { deadlineMs: CALL_DEADLINE_MS });
    id = job.id;
    if (ac.signal.aborted) return await cancel(id, 'the HTTP client went away');
    const ended = await waitEnded(id, ac.signal);
    if (ended.state === 'succeeded') {
      res.type('text/plain').send(Buffer.from(ended.result));
    } else {
      fail(res, 500, `job ${id} ${ended.state}: ${ended.error}`);
    }
  } catch (err) {
    if (ac.signal.aborted) {
      if (id !== undefined) await cancel(id, 'the HTTP client went away');
    } else if (err instanceof JobdError) {
      fail(res, HTTP_STATUS[err.codeName] ?? 500, `jobd: ${err.message}`);
    } else {
      console.error(`server.js: /blocking: ${err.stack ?? err}`);
      fail(res, 500, 'internal error');
    }
  } finally {
    open.delete(ac);
    res.off('close', gone);
  }
});

const server = app.listen(port, (err) => {
  if (err) {
    console.error(`server.js: cannot listen on port ${port}: ${err.message}`);
    process.exit(1);
  }
  const { address, port: bound } = server.address();
  const host = address.includes(':') ? `[${address}]` : address;
  console.log(`listening on http://${host}:${bound}, jobd at ${addr}`);
});

let stopping = false;
async function stop(signal) {
  if (stopping) return;
  stopping = true;
  console.error(`server.js: ${signal}: stopping`);
  server.close();
  server.closeAllConnections?.();
  for (const ac of open) ac.abort();
  // let the aborted requests send their Cancels, then let go of jobd
  const deadline = Date.now() + CALL_DEADLINE_MS;
  while (open.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  jobd.close();
  process.exit(0);
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

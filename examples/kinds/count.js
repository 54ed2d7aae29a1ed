// count.js N: the seed's loop, counting to N, as a jobd program kind.
//
// jobd runs it with N from the job's parameter n (count-js.kind). It
// reports "DONE TOTAL" on fd 3 (JOBD_PROGRESS_FD) every 2^20 iterations, a
// few milliseconds of work, and prints N when it gets there: that is the
// job's result. SIGTERM (cancel, timeout, jobd stopping) ends it at once,
// as Node does by default. Run by hand, without fd 3, it reports nothing.
'use strict';
const fs = require('fs');

const CHUNK = 2 ** 20;
const n = Number(process.argv[2]);
if (!Number.isSafeInteger(n) || n < 1) {
  process.stderr.write(`count.js: n must be a whole number >= 1, not '${process.argv[2]}'\n`);
  process.exit(100); // a bad parameter: failed, and retrying will not help
}

let progressFd = Number(process.env.JOBD_PROGRESS_FD || 3);
function progress(done) {
  if (progressFd < 0) return;
  try {
    fs.writeSync(progressFd, `${done} ${n}\n`);
  } catch (e) {
    progressFd = -1; // no fd 3: run by hand
  }
}

let x = 0;
for (let done = 0; done < n;) {
  progress(done);
  const end = Math.min(done + CHUNK, n);
  for (let i = done; i < end; i++) x += i;
  done = end;
}
progress(n);
if (x < 0) process.exit(1); // x is used: the loop stays
process.stdout.write(`${n}\n`);

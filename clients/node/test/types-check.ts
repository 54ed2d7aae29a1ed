// Type-checked by `npm run typecheck` (tsc --noEmit), never run: the
// declarations in index.d.ts describe the API as the README uses it.
import { Client, JobdError, NotFound, Code, type Job, type Run, type Schedule, type JobState } from 'jobd-client';

async function example(): Promise<void> {
  const c = new Client('tcp://127.0.0.1:7077', { token: 't', timeoutMs: 5000 });
  const { job, existing }: { job: Job; existing: boolean } = await c.submit('count', { n: 1000 }, {
    priority: 1, idempotencyKey: 'k', deadlineMs: 100, signal: AbortSignal.timeout(10),
  });
  const id: bigint = job.id;
  const ended = await c.wait(id, { deadlineMs: 1000 });
  const state: JobState = ended.state;
  const result: string = ended.result.toString('utf8');
  const batch = await c.submitBatch([{ kind: 'sha256', input: 'abc' }]);
  const { jobs, missing } = await c.getMany([1n, 2, '3']);
  const page = await c.list({ state: 'failed', limit: 10 });
  const next: bigint = page.nextCursor;
  for await (const j of c.listAll({ kind: 'count' })) void j.createdAt?.getTime();
  const s = await c.stats();
  const q: bigint = s.queued;
  const scheduled: bigint = s.scheduled;
  const pausedKinds: string[] = s.pausedKinds;
  const later = await c.submit('count', { n: 1 }, { runAt: new Date(Date.now() + 60000), uniqueKey: 'u' });
  const runAt: Date | null = later.job.runAt;
  const chained = await c.submit('sha256', {}, { input: 'x', delayMs: 1500, after: [later.job, 5n, 6] });
  const after: bigint[] = chained.job.after;
  const retried: Job = await c.retry(chained.job.id);
  const history: Run[] = retried.history;
  const reruns: number = retried.reruns;
  const sched: JobState = 'scheduled';
  const changed: boolean = await c.pause('count');
  const resumed: boolean = await c.resume('count', { deadlineMs: 100 });
  const schedules: Schedule[] = await c.schedules();
  const nextAt: Date = schedules[0].nextAt;
  const lastJob: bigint | null = schedules[0].lastJobId;
  await c.submitBatch([{ kind: 'count', params: { n: 1 }, after: [1n], runAt: new Date() }]);
  const k = await c.kinds();
  const paused: boolean = k[0].paused;
  const p = await c.ping('x');
  try {
    await c.get(5);
  } catch (e) {
    if (e instanceof NotFound && e.code === Code.NOT_FOUND) void e.details;
    if (e instanceof JobdError) void e.codeName;
  }
  c.close();
  void [existing, state, result, batch, jobs, missing, next, q, k, p.time];
  void [runAt, after, history, reruns, sched, changed, resumed, nextAt, lastJob, paused, scheduled, pausedKinds];
}
void example;

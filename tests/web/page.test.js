// The status page (daemon/web/) in a real browser: Debian's chromium,
// driven by playwright-core, against a real jobd started with --http on a
// temporary directory, with the kinds of tests/web/kinds (slow: progress
// in steps of 200 ms; fails: always fails; bytes: a binary result) and a
// schedule. Each test reads what the page shows and checks it against the
// JSON API. Screenshots go to WEB_SCREENSHOT_DIR (ctest: the build's
// tests/web-screenshots); their paths are printed.
//
// Run by ctest (tests/web/CMakeLists.txt), or by hand after a build:
//   cd tests/web && npm ci && JOBD_BIN=../../build/daemon/jobd node --test
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { Daemon, CHROMIUM, CHROMIUM_ARGS, shotsDir, until } from './lib.js';

const STATES = ['queued', 'scheduled', 'running', 'succeeded', 'failed', 'cancelled'];
const TOKEN = 'web-test-token-8c21f0d9';
const WAIT = 30000; // ms, for anything to show on screen
const JOB_WAIT = 120000; // ms, for a program job to move

let browser;
let jobd;
let page;
const pageErrors = [];

async function shot(p, name) {
  const file = join(shotsDir(), `${name}.png`);
  await p.screenshot({ path: file, fullPage: true });
  console.log(`screenshot: ${file}`);
  return file;
}

async function newPage() {
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 820 } });
  const p = await ctx.newPage();
  // Generous: on a loaded machine Chromium's renderer (niced) can lag for
  // seconds. Each wait ends as soon as its condition holds.
  p.setDefaultTimeout(30000);
  p.setDefaultNavigationTimeout(45000);
  p.on('pageerror', (e) => pageErrors.push(e.message));
  p.on('console', (m) => {
    // Chromium logs each HTTP error status (the 401 that asks for the
    // token, a refusal); those are the API's answers, not the page's faults.
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of/.test(m.text())) {
      pageErrors.push(`console: ${m.text()}`);
    }
  });
  return p;
}

// The numbers on the overview's cards, by state.
async function cardCounts(p) {
  return p.$$eval('#state-counts .card', (cards) => Object.fromEntries(
    cards.map((c) => [c.dataset.state, c.querySelector('.count').textContent])));
}

// The job's row in a list view, once the page shows it.
async function rowState(p, id) {
  return p.locator(`tr[data-id="${id}"] .state`).textContent();
}

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no chromium at ${CHROMIUM} (Debian: apt-get install chromium; or set JOBD_CHROMIUM)`);
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30000 });
  jobd = new Daemon();
  await jobd.start();
  page = await newPage();
}, { timeout: 90000 });

after(async () => {
  await browser?.close();
  if (jobd) {
    // A jobd that does not exit 0 on SIGTERM (a sanitizer's report, a
    // crash) fails the run.
    const status = await jobd.stop();
    if (status !== 0) throw new Error(`jobd exited ${status}; its log:\n${jobd.logTail()}`);
    jobd.cleanup();
  }
}, { timeout: 90000 });

// A known workload: three jobs that succeed, one that fails, one delayed an
// hour (scheduled), one of a paused kind (queued).
const ids = {};

test('the overview shows the counts of Stats', { timeout: 150000 }, async () => {
  const ok = [];
  for (let i = 0; i < 3; i++) ok.push((await jobd.submit('count', { n: '1000' })).id);
  ids.failed = (await jobd.submit('fails', { why: 'the <b>disk</b> is full' })).id;
  ids.delayed = (await jobd.submit('slow', { steps: '1' }, { delayMs: '3600000' })).id;
  assert.equal((await jobd.api('POST', 'kinds/bytes:pause')).changed, true);
  ids.bytes = (await jobd.submit('bytes')).id;
  for (const id of [...ok, ids.failed]) await jobd.wait(id);
  ids.succeeded = ok[0];

  await page.goto(jobd.base);
  const st = await jobd.api('GET', 'stats');
  assert.deepEqual(
    Object.fromEntries(STATES.map((s) => [s, st[s]])),
    { queued: '1', scheduled: '1', running: '0', succeeded: '3', failed: '1', cancelled: '0' });
  // The page polls Stats every 2 s: wait until it shows these figures.
  await until('the cards show the counts of Stats', WAIT, async () => {
    const c = await cardCounts(page);
    return STATES.every((s) => c[s] === st[s]) && c;
  });
  assert.equal(await page.locator('#workers').innerText().then((t) => t.trim()), `${st.busyWorkers} / ${st.workers}`);
  assert.match(await page.locator('#paused-kinds').innerText(), /\bbytes\b/);
  assert.equal(await page.locator('#daemon-version').innerText(), st.version);
  if ((st.finishedRecent || []).length) {
    await page.locator('svg.chart').waitFor();
    assert.equal(await page.locator('svg.chart rect.bar').count(), st.finishedRecent.length);
  }
  await shot(page, 'overview');
});

test("a running job's progress advances on screen, and Cancel ends it", { timeout: 360000 }, async () => {
  const job = await jobd.submit('slow', { steps: '300' }); // 60 s: Cancel ends it
  await page.goto(`${jobd.base}#/job/${job.id}`);
  // The bar is redrawn at each change: read whichever is on screen now.
  // Its value is the fraction done in millionths.
  const reading = () => page.evaluate(() => document.querySelector('#job-progress')?.value ?? null);
  const apiReading = async () => {
    const j = await jobd.get(job.id);
    return (Number(j.progressDone) * 1000000) / Number(j.progressTotal || 1);
  };
  // The program runs at the workers' low CPU priority: on a busy machine it
  // may itself be slow to move, so the API is asked first how far it is;
  // then the screen must follow.
  await until('progress reported by the job (API)', JOB_WAIT, async () => (await apiReading()) > 0);
  await until('a progress above 0 on screen', WAIT, async () => (await reading()) > 0);
  const first = await reading();
  await until(`the job past ${first} (API)`, JOB_WAIT, async () => (await apiReading()) > first);
  await until(`a second reading on screen, above ${first}`, WAIT, async () => (await reading()) > first);
  const second = await reading();
  assert.ok(second > first, `progress ${first} then ${second}`);
  assert.equal(await page.locator('#job-state').innerText(), 'running');
  assert.match(await page.locator('#job-progress-text').innerText(), /^\d+\.\d% \(\d+ \/ 300\)$/);
  await shot(page, 'job-running');

  await page.getByRole('button', { name: `cancel job ${job.id}` }).click();
  await until('the page shows the job cancelled', WAIT,
    async () => (await page.locator('#job-state').innerText()) === 'cancelled');
  const j = await jobd.get(job.id);
  assert.equal(j.state, 'JOB_STATE_CANCELLED');
  assert.ok(Number(j.progressDone) < 300, `progress ${j.progressDone}: it ended before its last step`);
  await shot(page, 'job-cancelled');
});

test('Retry from the page runs a failed job again', { timeout: 300000 }, async () => {
  // The dead-letter view lists it, with its error as text (not as HTML).
  await page.goto(`${jobd.base}#/failed`);
  assert.equal(await rowState(page, ids.failed), 'failed');
  assert.match(await page.locator(`tr[data-id="${ids.failed}"] td.error`).innerText(),
    /attempt 1 of job \d+ failed: the <b>disk<\/b> is full/);
  await shot(page, 'failed');

  await page.locator(`tr[data-id="${ids.failed}"] a`).first().click();
  await until('the job detail', WAIT, async () => (await page.locator('#job-reruns').count()) > 0);
  assert.equal(new URL(page.url()).hash, `#/job/${ids.failed}`);
  assert.equal(await page.locator('#job-reruns').innerText(), '0');
  const before = await jobd.get(ids.failed);
  await page.getByRole('button', { name: `retry job ${ids.failed}` }).click();
  await until('the page shows the second run ended', JOB_WAIT, async () =>
    (await page.locator('#job-reruns').innerText()) === '1' &&
    (await page.locator('#job-state').innerText()) === 'failed');
  assert.match(await page.locator('#job-timeline').innerText(), /run 1 ended failed/);
  const j = await jobd.get(ids.failed);
  assert.equal(j.state, 'JOB_STATE_FAILED');
  assert.equal(j.reruns, 1);
  assert.equal(j.history.length, 1);
  assert.equal(j.history[0].state, 'JOB_STATE_FAILED');
  assert.ok(Number(j.finishedAtMs) > Number(before.finishedAtMs), 'it ended again, later');
  await shot(page, 'job-retried');

  // The back button goes back to the list.
  await page.goBack();
  await until('the failed list again', WAIT, async () => (await page.locator(`tr[data-id="${ids.failed}"]`).count()) > 0);
  assert.equal(new URL(page.url()).hash, '#/failed');
});

test("the API's refusal is shown", { timeout: 150000 }, async () => {
  await page.goto(`${jobd.base}#/job/${ids.succeeded}`);
  await until('the job detail', WAIT, async () => (await page.locator('#job-state').innerText()) === 'succeeded');
  assert.equal(await page.locator('#job-result pre').innerText(), '1000');
  await page.getByRole('button', { name: `cancel job ${ids.succeeded}` }).click();
  await until('the refusal', WAIT, async () => /FAILED_PRECONDITION/.test(await page.locator('#action-msg').innerText()));
  assert.equal((await jobd.get(ids.succeeded)).state, 'JOB_STATE_SUCCEEDED');
});

test('kinds: Resume from the page lets a paused kind run', { timeout: 150000 }, async () => {
  await page.goto(`${jobd.base}#/kinds`);
  const row = page.locator('tr[data-kind="bytes"]');
  assert.match(await row.innerText(), /paused/);
  await page.getByRole('button', { name: 'resume kind bytes' }).click();
  await page.getByRole('button', { name: 'pause kind bytes' }).waitFor();
  assert.deepEqual((await jobd.api('GET', 'stats')).pausedKinds, []);
  await jobd.wait(ids.bytes);
  // Its result is not text: the page says so and shows the bytes.
  await page.goto(`${jobd.base}#/job/${ids.bytes}`);
  await until('the hex dump', WAIT, async () => /^00 01 02 ff 6a 6f 62 64 0a$/.test(
    (await page.locator('#job-result pre').innerText().catch(() => '')).trim()));
  assert.match(await page.locator('#job-result').innerText(), /Binary, 9 B/);
});

test('schedules are listed', { timeout: 150000 }, async () => {
  await page.goto(`${jobd.base}#/schedules`);
  const row = page.locator('tr[data-schedule="nightly"]');
  await row.waitFor();
  const text = await row.innerText();
  assert.match(text, /cron 30 3 \* \* \*/);
  assert.match(text, /Europe\/Paris/);
  assert.match(text, /\bslow\b/);
  await shot(page, 'schedules');
});

test('the jobs list filters by state and kind, and pages', { timeout: 150000 }, async () => {
  const batch = Array.from({ length: 60 }, () => ({ kind: 'count', params: { n: '10' } }));
  const r = await jobd.api('POST', 'jobs:batch', { jobs: batch });
  for (const s of r.jobs) await jobd.wait(s.job.id);

  await page.goto(`${jobd.base}#/jobs`);
  await page.locator('#filter-kind option[value="count"]').waitFor({ state: 'attached' });
  await page.selectOption('#filter-kind', 'count');
  await until('the hash names the kind', WAIT, async () => new URL(page.url()).hash === '#/jobs?kind=count');
  const rows = page.locator('#jobs-table tbody tr');
  await until('a first page of 50', WAIT, async () => (await rows.count()) === 50);
  const kinds = await page.$$eval('#jobs-table tbody tr td:nth-child(2)', (tds) => tds.map((t) => t.textContent));
  assert.ok(kinds.every((k) => k === 'count'), kinds.join(','));
  const firstIds = await page.$$eval('#jobs-table tbody tr', (trs) => trs.map((t) => t.dataset.id));
  await page.click('#next-page');
  // 63 count jobs: 13 on the second page, and no third.
  await until('the second page', WAIT, async () => (await rows.count()) === 13);
  const secondIds = await page.$$eval('#jobs-table tbody tr', (trs) => trs.map((t) => t.dataset.id));
  assert.equal(secondIds.filter((id) => firstIds.includes(id)).length, 0, 'the pages overlap');
  assert.equal(await page.locator('#next-page').count(), 0);
  await page.goBack();
  await until('the first page again', WAIT, async () => (await rows.count()) === 50);

  await page.selectOption('#filter-state', 'failed');
  await until('the failed count jobs: none', WAIT, async () => (await page.locator('#jobs-table .empty').count()) === 1);
  await page.selectOption('#filter-kind', '');
  await until('the failed jobs of any kind', WAIT, async () => (await rows.count()) === 1);
  assert.equal(await rowState(page, ids.failed), 'failed');
  assert.equal(new URL(page.url()).hash, '#/jobs?state=failed');
  await shot(page, 'jobs');
});

test('a daemon with a token: the page asks for it once', { timeout: 150000 }, async () => {
  const secure = new Daemon({ token: TOKEN });
  try {
    await secure.start();
    // Without the token the API refuses, with 401 and WWW-Authenticate.
    const r = await fetch(secure.base + 'v1/stats');
    assert.equal(r.status, 401);
    assert.equal((await r.json()).status, 'UNAUTHENTICATED');

    const p = await newPage();
    await p.goto(secure.base); // the page itself needs no token
    const dialog = p.locator('#token-dialog');
    await dialog.waitFor({ state: 'visible' });
    await shot(p, 'token-prompt');
    await p.getByLabel('API token').fill('not-the-token');
    await p.getByRole('button', { name: 'Use this token' }).click();
    await until('the form again, saying the token was refused', WAIT, async () =>
      (await dialog.isVisible()) && /refused/.test(await p.locator('#token-why').innerText()));
    await p.getByLabel('API token').fill(TOKEN);
    await p.getByRole('button', { name: 'Use this token' }).click();
    await until('the overview with the counts', WAIT, async () => (await cardCounts(p)).queued === '0');
    assert.equal(await dialog.isVisible(), false);
    assert.equal(await p.evaluate(() => sessionStorage.getItem('jobd.token')), TOKEN);

    // Kept for the tab: a reload and another view ask no more.
    await p.reload();
    await until('the overview after a reload', WAIT, async () => (await cardCounts(p)).queued === '0');
    await p.goto(`${secure.base}#/kinds`);
    await p.locator('tr[data-kind="slow"]').waitFor();
    assert.equal(await dialog.isVisible(), false);
    await p.context().close();
  } finally {
    const status = await secure.stop();
    assert.equal(status, 0, `the second jobd exited ${status}; its log:\n${secure.logTail()}`);
    secure.cleanup();
  }
});

test('the overview after the workload', { timeout: 150000 }, async () => {
  await page.goto(jobd.base);
  const st = await jobd.api('GET', 'stats');
  await until('the cards', WAIT, async () => Number((await cardCounts(page)).succeeded) >= Number(st.succeeded));
  if ((st.finishedRecent || []).length) {
    await page.locator('svg.chart rect.bar').first().waitFor({ state: 'attached' });
  }
  await shot(page, 'overview-end');
});

test('no script errors on the page', () => {
  assert.deepEqual(pageErrors, []);
});

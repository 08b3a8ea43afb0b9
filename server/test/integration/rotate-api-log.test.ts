import { expect } from 'chai';
import pino from 'pino';
import { createContainer, type Container } from '../../container.js';
import type { ApiRequestEntry } from '../../db/api-requests.repo.js';
import { createRepos } from '../../db/repos.js';
import { JOBS } from '../../jobs/index.js';
import { rotateApiLog } from '../../jobs/rotate-api-log.job.js';
import { createScheduler } from '../../jobs/scheduler.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

const DAY = 86_400_000;

describe('rotate-api-log: the API request log (it holds IP addresses) is kept at most API_LOG_RETENTION_DAYS', function () {
  this.timeout(60_000);
  let app: TestApp;
  let deps: Container;
  // A fixed clock, far from today, so nothing depends on when the test runs.
  const clock = new Date('2031-05-20T03:22:00Z');
  const row = (ip: string, createdAt: Date): ApiRequestEntry => ({ keyId: 'A'.repeat(16), userId: null, method: 'GET', route: '/api/v1/me', status: 200, durationMs: 3, uploadBytes: 0, ip, createdAt });
  const ips = async () => ((await app.db('api_requests').pluck('ip')) as string[]).sort();

  beforeEach(async () => {
    app = await startTestApp({ API_LOG_RETENTION_DAYS: '12' });
    deps = createContainer({ db: app.db, storage: app.storage, tempDir: app.tempDir, config: app.config, logger: pino({ level: 'silent' }) });
  });
  afterEach(() => app.close());

  it('is on the scheduler’s list with a daily schedule', () => {
    expect(JOBS).to.include(rotateApiLog);
    expect(rotateApiLog.name).to.equal('rotate-api-log');
    const scheduler = createScheduler(deps, JOBS, { now: async () => clock });
    expect(scheduler.jobs.map((j) => j.name)).to.include('rotate-api-log');
    expect(rotateApiLog.schedule).to.match(/^\d+ \d+ \* \* \*$/);
  });

  it('deletes rows older than the configured window in batches, keeps younger ones, and does nothing more the second time', async () => {
    expect(app.config.apiLogRetentionDays).to.equal(12);
    const log = createRepos(app.db).apiRequests;
    const old = new Date(clock.getTime() - 12 * DAY - 1000);
    // More than one batch (1000) of old rows.
    await app.db.batchInsert(
      'api_requests',
      Array.from({ length: 2300 }, () => ({ key_id: 'A'.repeat(16), user_id: null, method: 'GET', route: '/api/v1/me', status: 200, duration_ms: 1, upload_bytes: 0, ip: '203.0.113.7', created_at: old })),
      500,
    );
    await log.insert(row('203.0.113.8', new Date(clock.getTime() - 12 * DAY + 60_000)));
    await log.insert(row('203.0.113.9', new Date(clock.getTime() - 11 * DAY)));
    await log.insert(row('203.0.113.10', clock));

    const result = await rotateApiLog.run(deps, clock);
    expect(result).to.deep.equal({ items: 2300, detail: { cutoff: new Date(clock.getTime() - 12 * DAY).toISOString() } });
    expect(await ips()).to.deep.equal(['203.0.113.10', '203.0.113.8', '203.0.113.9']);
    expect((await rotateApiLog.run(deps, clock)).items).to.equal(0);

    // A day later, the row that was just inside the window goes.
    expect((await rotateApiLog.run(deps, new Date(clock.getTime() + DAY))).items).to.equal(1);
    expect(await ips()).to.deep.equal(['203.0.113.10', '203.0.113.9']);
  });

  it('runs through the scheduler on its clock and records the run', async () => {
    const log = createRepos(app.db).apiRequests;
    await log.insert(row('198.51.100.1', new Date(clock.getTime() - 13 * DAY)));
    await log.insert(row('198.51.100.2', new Date(clock.getTime() - 5 * DAY)));
    const outcome = await createScheduler(deps, JOBS, { now: async () => clock }).run('rotate-api-log');
    expect(outcome).to.deep.include({ status: 'ran', result: { items: 1, detail: { cutoff: new Date(clock.getTime() - 12 * DAY).toISOString() } } });
    expect(await ips()).to.deep.equal(['198.51.100.2']);
    const [run] = (await app.db('job_runs').where({ job: 'rotate-api-log' })) as Array<Record<string, unknown>>;
    expect(run).to.include({ items: 1, error: null });
    expect(JSON.stringify(run), 'the run log holds no address').not.to.include('198.51.100');
  });
});

import { expect } from 'chai';
import pino from 'pino';
import { createContainer, type Container } from '../../container.js';
import { createRepos, type Repos } from '../../db/repos.js';
import { randomBase62 } from '../../lib/ids.js';
import { JOBS } from '../../jobs/index.js';
import { pruneWebhookLog } from '../../jobs/prune-webhook-log.job.js';
import { createScheduler } from '../../jobs/scheduler.js';
import { newMessageId } from '../../services/webhook-events.js';
import { newWebhookSecret } from '../../services/webhook-signing.js';
import { signedInUser } from '../helpers/accounts.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

const DAY = 86_400_000;

describe('prune-webhook-log: the webhook delivery log is kept WEBHOOK_LOG_RETENTION_DAYS after a delivery ends', function () {
  this.timeout(60_000);
  let app: TestApp;
  let deps: Container;
  let repos: Repos;
  let endpointId: string;
  // A fixed clock, far from today, so nothing depends on when the test runs.
  const clock = new Date('2031-05-20T03:42:00Z');
  const ago = (days: number, ms = 0) => new Date(clock.getTime() - days * DAY + ms);

  /** A delivery that ended at `finishedAt` (null: still pending) with one attempt per date in `attempts`. */
  async function delivery(finishedAt: Date | null, attempts: Date[]): Promise<string> {
    const id = newMessageId();
    const createdAt = attempts[0] ?? finishedAt ?? clock;
    await repos.webhooks.insertDeliveries([{ id, endpointId, eventType: 'image.uploaded', payload: '{}', createdAt }]);
    for (const [i, at] of attempts.entries()) {
      const last = i === attempts.length - 1;
      await repos.webhooks.recordAttempt(
        { deliveryId: id, endpointId, attemptedAt: at, outcome: last && finishedAt ? 'delivered' : 'failed', responseCode: last && finishedAt ? 200 : 500, durationMs: 12, responseExcerpt: 'answer', error: null },
        { status: finishedAt ? (last ? 'delivered' : 'pending') : 'pending', attempts: i + 1, nextAttemptAt: last && finishedAt ? null : new Date(at.getTime() + 5000), finishedAt: last ? finishedAt : null },
      );
    }
    return id;
  }
  const deliveryIds = async () => ((await app.db('webhook_deliveries').pluck('id')) as string[]).sort();
  const attemptCount = async () => Number(((await app.db('webhook_attempts').count({ n: '*' })) as Array<{ n: number | string }>)[0]!.n);

  beforeEach(async () => {
    app = await startTestApp({ WEBHOOK_LOG_RETENTION_DAYS: '14' });
    deps = createContainer({ db: app.db, storage: app.storage, tempDir: app.tempDir, config: app.config, logger: pino({ level: 'silent' }) });
    repos = createRepos(app.db);
    const owner = await signedInUser(app);
    endpointId = `ep_${randomBase62(20)}`;
    await repos.webhooks.insertEndpoint({ id: endpointId, ownerId: owner.id, url: 'https://hooks.example.test/in', description: null, events: ['image.uploaded'], secret: newWebhookSecret(), createdAt: ago(60) });
  });
  afterEach(() => app.close());

  it('is on the scheduler’s list with a daily schedule of its own', () => {
    expect(JOBS).to.include(pruneWebhookLog);
    expect(pruneWebhookLog.name).to.equal('prune-webhook-log');
    expect(pruneWebhookLog.schedule).to.match(/^\d+ \d+ \* \* \*$/);
    expect(JOBS.filter((j) => j.schedule === pruneWebhookLog.schedule).map((j) => j.name), 'no other job at the same minute').to.deep.equal(['prune-webhook-log']);
    expect(createScheduler(deps, JOBS, { now: async () => clock }).jobs.map((j) => j.name)).to.include('prune-webhook-log');
  });

  it('deletes deliveries that ended before the window and attempts made before it, in batches; keeps the rest; the second run does nothing', async () => {
    expect(app.config.webhookLogRetentionDays).to.equal(14);
    // More than a batch (1000) of old finished deliveries, each with an attempt.
    const old = ago(14, -1000);
    const rows = Array.from({ length: 1300 }, () => ({ id: newMessageId(), endpoint_id: endpointId, event_type: 'image.uploaded', payload: '{}', status: 'delivered', attempts: 1, next_attempt_at: null, locked_until: null, last_response_code: 200, created_at: old, finished_at: old }));
    await app.db.batchInsert('webhook_deliveries', rows, 200);
    await app.db.batchInsert('webhook_attempts', rows.map((r) => ({ delivery_id: r.id, endpoint_id: endpointId, attempted_at: old, outcome: 'delivered', response_code: 200, duration_ms: 5, response_excerpt: 'ok', error: null })), 200);
    const justInside = await delivery(ago(14, 60_000), [ago(14, 60_000)]);
    const recent = await delivery(ago(2), [ago(3), ago(2)]);
    // Failed for good 20 days ago: goes, attempts and all.
    await delivery(ago(20), [ago(22), ago(21), ago(20)]);
    // Still pending (its endpoint was switched off before it ran out of retries, say): the delivery stays.
    const pending = await delivery(null, [ago(30)]);
    expect(await attemptCount()).to.equal(1300 + 1 + 2 + 3 + 1);

    const result = await pruneWebhookLog.run(deps, clock);
    expect(result.detail).to.deep.include({ cutoff: ago(14).toISOString() });
    expect(result.items).to.be.at.least(1301);
    expect(await deliveryIds()).to.deep.equal([justInside, recent, pending].sort());
    expect(await attemptCount(), 'the attempts of the kept deliveries, made inside the window').to.equal(1 + 2);
    expect((await pruneWebhookLog.run(deps, clock)).items).to.equal(0);

    // A day later, the delivery that ended just inside the window goes too.
    await pruneWebhookLog.run(deps, new Date(clock.getTime() + DAY));
    expect(await deliveryIds()).to.deep.equal([recent, pending].sort());
    expect(await attemptCount()).to.equal(2);
  });

  it('runs through the scheduler on its clock and records the run', async () => {
    await delivery(ago(15), [ago(15)]);
    const kept = await delivery(ago(1), [ago(1)]);
    const outcome = await createScheduler(deps, JOBS, { now: async () => clock }).run('prune-webhook-log');
    expect(outcome).to.deep.include({ status: 'ran', result: { items: 2, detail: { cutoff: ago(14).toISOString(), attempts: 1, deliveries: 1 } } });
    expect(await deliveryIds()).to.deep.equal([kept]);
    const [run] = (await app.db('job_runs').where({ job: 'prune-webhook-log' })) as Array<Record<string, unknown>>;
    expect(run).to.include({ items: 2, error: null });
  });
  it('ends the pending deliveries of switched-off endpoints (recorded as the endpoint went off), as failed when it went off, so their payloads go with the log', async () => {
    const owner = await signedInUser(app);
    const offEndpoint = async (offSince: Date): Promise<string> => {
      const id = `ep_${randomBase62(20)}`;
      await repos.webhooks.insertEndpoint({ id, ownerId: owner.id, url: 'https://hooks.example.test/off', description: null, events: ['image.uploaded'], secret: newWebhookSecret(), createdAt: ago(60) });
      await repos.webhooks.updateEndpoint(id, { enabled: false, disabledReason: 'owner', disabledAt: offSince }, offSince);
      return id;
    };
    const pendingOn = async (id: string, createdAt: Date): Promise<string> => {
      const deliveryId = newMessageId();
      await repos.webhooks.insertDeliveries([{ id: deliveryId, endpointId: id, eventType: 'image.uploaded', payload: '{"private":"payload"}', createdAt }]);
      return deliveryId;
    };
    const longOff = await offEndpoint(ago(20));
    const lately = await offEndpoint(ago(2));
    // Committed a moment after each endpoint went off: nothing will ever send them.
    const stale = await pendingOn(longOff, ago(20, 50));
    const recent = await pendingOn(lately, ago(2, 50));
    // On an endpoint that is on: still being tried, it stays as it is.
    const live = await pendingOn(endpointId, ago(30));

    await pruneWebhookLog.run(deps, clock);
    expect(await deliveryIds()).to.deep.equal([recent, live].sort());
    expect(await repos.webhooks.findDelivery(recent)).to.deep.include({ status: 'failed', nextAttemptAt: null, finishedAt: ago(2, 50) });
    expect((await repos.webhooks.findDelivery(live))!.status).to.equal('pending');
    expect(await repos.webhooks.findDelivery(stale), 'ended as of when its endpoint went off, long enough ago to go').to.equal(null);

    // Once it ended longer ago than the window, it goes too.
    await pruneWebhookLog.run(deps, new Date(clock.getTime() + 13 * DAY));
    expect(await deliveryIds()).to.deep.equal([live]);
  });
});

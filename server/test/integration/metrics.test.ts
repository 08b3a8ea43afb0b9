import { expect } from 'chai';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { createContainer } from '../../container.js';
import { startMetricsListener } from '../../http/metrics-endpoint.js';
import { JOBS } from '../../jobs/index.js';
import { createScheduler } from '../../jobs/scheduler.js';
import { createMetrics } from '../../metrics/metrics.js';
import { fixtures } from '../fixtures/images.js';
import { ownerUpload } from '../helpers/account-images.js';
import { signedInUser } from '../helpers/accounts.js';
import { rawRequest, upload } from '../helpers/http.js';
import { countingStorage } from '../helpers/serving.js';
import { StorageUnavailable, type StorageDriver } from '../../storage/storage.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

const TOKEN = 'metrics-token-for-tests-0123456789';
const silent = pino({ level: 'silent' });

/** The value of one series line (`name{labels} value`), or undefined when the text has no such line. */
function valueOf(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const scrape = (app: TestApp, headers: Record<string, string> = { Authorization: `Bearer ${TOKEN}` }) => rawRequest(`${app.url}/metrics`, { headers });

describe('/metrics (Prometheus)', function () {
  this.timeout(60_000);
  let app: TestApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('is off by default: /metrics is a 404', async () => {
    app = await startTestApp();
    expect((await scrape(app)).status).to.equal(404);
    expect((await scrape(app, {})).status).to.equal(404);
  });

  it('with only METRICS_LISTEN, the main port has no /metrics', async () => {
    app = await startTestApp({ METRICS_LISTEN: '127.0.0.1:9464' });
    expect((await scrape(app)).status).to.equal(404);
  });

  it('with METRICS_TOKEN, asks for the bearer token', async () => {
    app = await startTestApp({ METRICS_TOKEN: TOKEN });
    const none = await scrape(app, {});
    expect(none.status).to.equal(401);
    expect(none.headers['www-authenticate']).to.match(/^Bearer /);
    expect(none.body.toString()).not.to.contain('pixbin_');
    expect((await scrape(app, { Authorization: `Bearer ${TOKEN}x` })).status).to.equal(401);
    expect((await scrape(app, { Authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` })).status).to.equal(401);
    const ok = await scrape(app);
    expect(ok.status).to.equal(200);
    expect(ok.headers['content-type']).to.match(/^text\/plain; version=0\.0\.4/);
    const text = ok.body.toString();
    // The default process metrics, and every Pixbin series known up front at 0.
    expect(text).to.contain('pixbin_process_cpu_user_seconds_total');
    expect(text).to.contain('pixbin_nodejs_eventloop_lag_seconds');
    expect(valueOf(text, 'pixbin_webhook_deliveries_total{outcome="delivered"}')).to.equal(0);
    expect(valueOf(text, 'pixbin_uploads_total{result="created"}')).to.equal(0);
    expect(valueOf(text, 'pixbin_backend_errors_total{kind="database_unavailable"}')).to.equal(0);
  });

  it('counts an upload, a page view and image fetches by route pattern, and no label names an id, a path, an address or a user', async () => {
    app = await startTestApp({ METRICS_TOKEN: TOKEN });
    const user = await signedInUser(app);
    const uploaded = await ownerUpload(user, await fixtures.png(), { json: true });
    expect(uploaded.status).to.equal(201);
    const image = uploaded.json() as { id: string; url: string; thumbnailUrl: string };
    expect((await rawRequest(`${app.url}/i/${image.id}`)).status).to.equal(200); // the share page
    // The bytes cache takes a variant on its second request; the third is answered by the image front.
    let servedBytes = 0;
    for (let i = 0; i < 3; i++) {
      const original = await rawRequest(image.url);
      expect(original.status).to.equal(200);
      servedBytes += original.body.length;
    }
    expect((await rawRequest(`${app.url}/no/such/${image.id}`)).status).to.equal(404);

    const text = (await scrape(app)).body.toString();
    expect(valueOf(text, 'pixbin_uploads_total{result="created"}')).to.equal(1);
    expect(valueOf(text, 'pixbin_image_processing_seconds_count')).to.equal(1);
    expect(valueOf(text, 'pixbin_http_request_duration_seconds_count{method="GET",route="/i/:id",status_class="2xx"}')).to.equal(1);
    expect(valueOf(text, 'pixbin_http_request_duration_seconds_count{method="GET",route="/i/:id.:ext",status_class="2xx"}')).to.equal(3);
    expect(valueOf(text, 'pixbin_http_request_duration_seconds_count{method="GET",route="(unmatched)",status_class="4xx"}')).to.be.at.least(1);
    expect(valueOf(text, 'pixbin_served_bytes_total{variant="original"}')).to.equal(servedBytes);
    // One row lookup per image request, whether the front answered it or handed it to the router (not one for each).
    const rowLookups = (valueOf(text, 'pixbin_cache_lookups_total{cache="rows",result="hit"}') ?? 0) + (valueOf(text, 'pixbin_cache_lookups_total{cache="rows",result="miss"}') ?? 0);
    expect(rowLookups).to.equal(3);
    expect(valueOf(text, 'pixbin_cache_lookups_total{cache="rows",result="hit"}')).to.be.at.least(1);
    expect(valueOf(text, 'pixbin_cache_lookups_total{cache="bytes",result="hit"}')).to.be.at.least(1);
    expect(valueOf(text, 'pixbin_cache_lookups_total{cache="bytes",result="miss"}')).to.be.at.least(1);
    // Nothing that identifies an image, a person or a client, anywhere in the text.
    for (const secret of [image.id, user.username, user.id, user.email, '127.0.0.1', '/no/such']) expect(text).not.to.contain(secret);
  });

  it('counts refused uploads, storage failures by kind, and no bytes for HEAD or 304', async () => {
    let storeDown = false;
    const failing = (storage: StorageDriver): StorageDriver => {
      const passing = countingStorage({ get: 0, exists: 0 })(storage);
      const down = () => Promise.reject(new StorageUnavailable('the store is down'));
      return { ...passing, get: (key, range) => (storeDown ? down() : passing.get(key, range)), exists: (key) => (storeDown ? down() : passing.exists(key)) };
    };
    app = await startTestApp({ METRICS_TOKEN: TOKEN }, { wrapStorage: failing });
    expect((await upload(app.url, { bytes: await fixtures.truncatedJpeg(), filename: 'x.jpg', contentType: 'image/jpeg' })).status).to.equal(422);
    const image = (await upload(app.url, { bytes: await fixtures.png(), filename: 'p.png', contentType: 'image/png' }, { json: true })).json() as { id: string; url: string };
    const first = await rawRequest(image.url);
    expect(first.status).to.equal(200);
    expect((await rawRequest(image.url, { method: 'HEAD' })).status).to.equal(200);
    expect((await rawRequest(image.url, { headers: { 'If-None-Match': String(first.headers.etag) } })).status).to.equal(304);
    storeDown = true;
    expect((await rawRequest(`${app.url}/t/${image.id}.webp`)).status).to.equal(503);

    const text = (await scrape(app)).body.toString();
    expect(valueOf(text, 'pixbin_uploads_total{result="refused"}')).to.equal(1);
    expect(valueOf(text, 'pixbin_uploads_total{result="created"}')).to.equal(1);
    expect(valueOf(text, 'pixbin_served_bytes_total{variant="original"}')).to.equal(first.body.length);
    expect(valueOf(text, 'pixbin_served_bytes_total{variant="thumbnail"}')).to.equal(0);
    expect(valueOf(text, 'pixbin_backend_errors_total{kind="storage_unavailable"}')).to.equal(1);
    expect(valueOf(text, 'pixbin_http_request_duration_seconds_count{method="GET",route="/t/:id.:ext",status_class="5xx"}')).to.equal(1);
    expect(valueOf(text, 'pixbin_http_request_duration_seconds_count{method="HEAD",route="/i/:id.:ext",status_class="2xx"}')).to.equal(1);
    expect(valueOf(text, 'pixbin_http_request_duration_seconds_count{method="GET",route="/i/:id.:ext",status_class="3xx"}')).to.equal(1);
    expect(text).not.to.contain(image.id);
  });

  it('counts job runs and their durations by job and outcome', async () => {
    app = await startTestApp();
    const metrics = createMetrics();
    const container = createContainer({ db: app.db, storage: app.storage, tempDir: app.tempDir, config: app.config, logger: silent });
    const scheduler = createScheduler(container, JOBS, { metrics });
    expect((await scheduler.run('expire-guest-uploads')).status).to.equal('ran');
    const text = await metrics.text();
    expect(valueOf(text, 'pixbin_job_runs_total{job="expire-guest-uploads",outcome="success"}')).to.equal(1);
    expect(valueOf(text, 'pixbin_job_duration_seconds_count{job="expire-guest-uploads",outcome="success"}')).to.equal(1);
    await container.imageFeed?.close();
  });

  describe('the separate listener (METRICS_LISTEN)', () => {
    let server: Server | undefined;
    afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

    it('serves /metrics without a token, and nothing else', async () => {
      const metrics = createMetrics();
      metrics.uploadFinished('refused');
      server = await startMetricsListener(metrics, { host: '127.0.0.1', port: 0 });
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const scraped = await rawRequest(`${base}/metrics`);
      expect(scraped.status).to.equal(200);
      expect(valueOf(scraped.body.toString(), 'pixbin_uploads_total{result="refused"}')).to.equal(1);
      expect((await rawRequest(`${base}/metrics?x=1`)).status).to.equal(200);
      expect((await rawRequest(`${base}/`)).status).to.equal(404);
      expect((await rawRequest(`${base}/metrics`, { method: 'POST' })).status).to.equal(405);
    });

    it('refuses a port already in use', async () => {
      const metrics = createMetrics();
      server = await startMetricsListener(metrics, { host: '127.0.0.1', port: 0 });
      const port = (server.address() as AddressInfo).port;
      let failure: unknown;
      await startMetricsListener(metrics, { host: '127.0.0.1', port }).catch((err: unknown) => (failure = err));
      expect((failure as NodeJS.ErrnoException).code).to.equal('EADDRINUSE');
    });
  });
});

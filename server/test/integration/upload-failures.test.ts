import { expect } from 'chai';
import { fixtures } from '../fixtures/images.js';
import { expectNothingLeft } from '../helpers/assertions.js';
import { upload } from '../helpers/http.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

describe('upload when the server itself fails', () => {
  let app: TestApp;
  beforeEach(async () => {
    app = await startTestApp();
  });
  afterEach(async () => {
    if (await app.db.schema.hasTable('security_log_gone')) await app.db.schema.renameTable('security_log_gone', 'security_log');
    await app.close();
  });

  it('deletes the stored bytes when the database insert fails, and answers a generic 500 with no internals', async () => {
    // The security-log insert shares the image row's transaction; with its table gone the transaction fails.
    await app.db.schema.renameTable('security_log', 'security_log_gone');
    const res = await upload(app.url, { bytes: await fixtures.jpegWithGps() });
    expect(res.status).to.equal(500);
    const body = res.json();
    expect(body.error.code).to.equal('internal_error');
    expect(JSON.stringify(body)).not.to.match(/security_log|SQLITE|relation|insert|\.ts:\d+/i);
    await app.db.schema.renameTable('security_log_gone', 'security_log');
    await expectNothingLeft(app);
    // The failure is logged for the operator, with the cause.
    expect(app.logs.some((l) => l.level === 50 && JSON.stringify(l).includes('security_log'))).to.equal(true);
  });
});

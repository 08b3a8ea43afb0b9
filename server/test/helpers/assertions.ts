import { expect } from 'chai';
import { listFiles, type TestApp } from './test-app.js';

/** Waits (bounded) for the app's temp folder to empty: temp files are removed as responses close. */
export async function waitForEmptyTemp(app: TestApp, timeoutMs = 3000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let left = await listFiles(app.tempDir);
  while (left.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
    left = await listFiles(app.tempDir);
  }
  return left;
}

/** The promise every rejected upload must keep: no row, no stored bytes, no temp file. */
export async function expectNothingLeft(app: TestApp): Promise<void> {
  expect(await waitForEmptyTemp(app), 'temp files').to.deep.equal([]);
  expect(await app.storedKeys(), 'stored files').to.deep.equal([]);
  expect(Number((await app.db('images').count({ n: '*' }))[0]!.n), 'image rows').to.equal(0);
  expect(await app.db('security_log').where({ event: 'image.upload' }), 'upload log rows').to.have.length(0);
}

export function expectJsonError(res: { status: number; json: () => any }, status: number, code: string): string {
  expect(res.status, 'status').to.equal(status);
  const body = res.json();
  expect(body.error.code).to.equal(code);
  expect(body.error.message).to.be.a('string').and.have.length.greaterThan(10);
  expect(JSON.stringify(body)).not.to.match(/at .*\.(ts|js):\d+|SQLITE|select |insert into/i);
  return body.error.message as string;
}

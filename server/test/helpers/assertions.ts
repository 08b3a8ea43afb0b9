import { expect } from 'chai';
import { watch } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { listFiles, type TestApp } from './test-app.js';

/** Polls until the condition holds; throws, naming what never happened, once the deadline passes. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Records the names of the entries created in a folder. created() writes a marker file and waits until the watcher
 * reports it: events arrive in order, so by then every earlier creation has been reported, with no guessed delay.
 */
export function watchCreations(dir: string): { created: () => Promise<string[]>; close: () => void } {
  const seen: string[] = [];
  const markers = new Set<string>();
  const listeners = new Set<() => void>();
  const watcher = watch(dir, (_event, name) => {
    seen.push(String(name));
    for (const listener of listeners) listener();
  });
  return {
    async created() {
      const marker = `.marker-${randomBytes(6).toString('hex')}`;
      markers.add(marker);
      const reported = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the watcher on ${dir} never reported ${marker}`)), 5000);
        const listener = () => {
          if (!seen.includes(marker)) return;
          clearTimeout(timer);
          listeners.delete(listener);
          resolve();
        };
        listeners.add(listener);
      });
      await fs.writeFile(path.join(dir, marker), '');
      try {
        await reported;
      } finally {
        await fs.rm(path.join(dir, marker), { force: true });
      }
      return seen.slice(0, seen.indexOf(marker)).filter((name) => !markers.has(name));
    },
    close: () => watcher.close(),
  };
}

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

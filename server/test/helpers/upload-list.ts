import type { Page } from 'playwright-core';
import type { TestApp } from './test-app.js';

/** Reading the upload page's list of files (several at once) in browser tests. */

export type InFile = { bytes: Buffer; name: string; type: string };
export type Row = { name: string; status: string; progress: number | null; progressLabel: string | null; share: string | null; direct: string | null; del: string | null };

/** Makes the Files inside the page and returns one DataTransfer holding them all, as a drop or a paste carries them. */
export function dataTransferOf(page: Page, files: InFile[]) {
  return page.evaluateHandle(
    (list) => {
      const dt = new DataTransfer();
      for (const { b64, name, type } of list) {
        const bin = atob(b64);
        const bytes = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i += 1) bytes[i] = bin.charCodeAt(i);
        dt.items.add(new File([bytes], name, { type }));
      }
      return dt;
    },
    files.map((f) => ({ b64: f.bytes.toString('base64'), name: f.name, type: f.type })),
  );
}

/** What each row of the upload list shows. */
export function rows(page: Page): Promise<Row[]> {
  // No helper functions inside: the test runner's transpiler would wrap them in a helper the page does not have.
  return page.locator('#upload-list > li').evaluateAll((items) =>
    items.map((li) => ({
      name: li.querySelector('.upload-item-name')?.textContent ?? '',
      status: li.querySelector('.upload-item-status')?.textContent ?? '',
      progress: li.querySelector('progress')?.value ?? null,
      progressLabel: li.querySelector('progress')?.getAttribute('aria-label') ?? null,
      share: li.querySelector<HTMLInputElement>('input[id$="-share"]')?.value ?? null,
      direct: li.querySelector<HTMLInputElement>('input[id$="-direct"]')?.value ?? null,
      del: li.querySelector<HTMLInputElement>('input[id$="-delete"]')?.value ?? null,
    })),
  );
}

/** Waits until every row has its result or its error. */
export async function settled(page: Page, count: number): Promise<Row[]> {
  await page.waitForFunction((n) => document.querySelectorAll('#upload-list > li.done, #upload-list > li.failed').length === n, count);
  return rows(page);
}

export async function imageCount(app: TestApp): Promise<number> {
  return Number((await app.db('images').count({ n: '*' }))[0]!.n);
}

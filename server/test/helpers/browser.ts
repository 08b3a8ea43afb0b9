import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.PIXBIN_CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

export type TestBrowser = {
  context: BrowserContext;
  page: Page;
  /** Every URL the browser asked for, including ones a route answered without touching the network. */
  requests: string[];
  /** Console errors and CSP reports seen so far. */
  consoleErrors: string[];
  close: () => Promise<void>;
};

/** Pages where axe is running: axe's own style probes trip the CSP and are not the page's errors. */
const auditing = new WeakSet<Page>();

/** Debian's chromium through playwright-core, with a brand-new profile every time. */
export async function openBrowser(options: BrowserContextOptions = {}): Promise<TestBrowser> {
  const userDataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: FLAGS,
    ...options,
  });
  const requests: string[] = [];
  const consoleErrors: string[] = [];
  context.on('request', (req) => requests.push(req.url()));
  const page = context.pages()[0] ?? (await context.newPage());
  const record = (p: Page) => p.on('console', (m) => m.type() === 'error' && !auditing.has(p) && consoleErrors.push(m.text()));
  context.on('page', record);
  record(page);
  page.on('pageerror', (err) => consoleErrors.push(String(err)));
  return {
    context,
    page,
    requests,
    consoleErrors,
    close: async () => {
      await context.close();
      await fs.rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Requests to any origin but the app's own (data: and blob: URLs stay on the page). */
export function foreignRequests(requests: string[], appUrl: string): string[] {
  const own = new URL(appUrl).origin;
  return requests.filter((u) => !u.startsWith('data:') && !u.startsWith('blob:') && new URL(u).origin !== own);
}

type AxeViolation = { id: string; impact: string | null; help: string; nodes: Array<{ target: string[] }> };

/** Runs axe-core in the page (through the DevTools protocol, so the page's CSP stays untouched). */
export async function seriousA11yViolations(page: Page): Promise<string[]> {
  const source = await fs.readFile(path.join(process.cwd(), 'node_modules/axe-core/axe.min.js'), 'utf8');
  auditing.add(page);
  let violations: AxeViolation[];
  try {
    await page.evaluate(source);
    violations = (await page.evaluate(async () => {
      const axe = (globalThis as unknown as { axe: { run: (o: object) => Promise<{ violations: unknown[] }> } }).axe;
      return (await axe.run({ resultTypes: ['violations'] })).violations;
    })) as AxeViolation[];
    await page.waitForTimeout(50); // let console messages from the audit arrive while they are still ignored
  } finally {
    auditing.delete(page);
  }
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
}

/** Makes a File inside the page and returns a DataTransfer holding it, for drop and paste events. */
export async function dataTransferWith(page: Page, file: { bytes: Buffer; name: string; type: string }) {
  return page.evaluateHandle(
    ({ b64, name, type }) => {
      const bin = atob(b64);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i += 1) bytes[i] = bin.charCodeAt(i);
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], name, { type }));
      return dt;
    },
    { b64: file.bytes.toString('base64'), name: file.name, type: file.type },
  );
}

/** Fills and sends the login form; the caller waits for where it should land (or for the error shown). */
export async function submitLogin(page: Page, appUrl: string, login: string, password: string): Promise<void> {
  await page.goto(`${appUrl}/login`);
  await page.getByLabel('Username or email').fill(login);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
}

/** Logs an account in and waits until the browser has left the login page. */
export async function logIn(page: Page, appUrl: string, user: { username: string; password: string }): Promise<void> {
  await submitLogin(page, appUrl, user.username, user.password);
  await page.waitForURL((url) => url.pathname !== '/login');
}

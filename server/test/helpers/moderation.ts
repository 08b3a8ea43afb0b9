import type { TestUser } from './accounts.js';
import type { TestApp } from './test-app.js';
import { WebClient } from './web-client.js';

/** Reports an image (or, with kind album, an album) as anyone, over the public form, as JSON. */
export const reportTarget = (app: TestApp, id: string, fields: Record<string, string>, kind: 'image' | 'album' = 'image', client = new WebClient(app.url)) => {
  const path = kind === 'image' ? `/report/${id}` : `/report/album/${id}`;
  return client.post(path, fields, { csrfPage: path, json: true });
};

/** A staff POST to an admin path as JSON, with a CSRF token from the queue page. */
export const staffPost = (staff: TestUser, path: string, fields: Record<string, string> | Array<[string, string]>) => staff.client.post(path, fields, { csrfPage: '/admin/reports', json: true });

export const COPYRIGHT_NOTICE = { reason: 'copyright', work: 'Sunset', original_url: 'https://example.test/sunset', claimant: 'Ann Owner', contact: 'ann@example.test', signature: 'Ann Owner', good_faith: 'yes', accurate: 'yes' };

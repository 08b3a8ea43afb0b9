import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Repos } from '../../db/repos.js';
import { BadRequest } from '../../errors.js';
import { randomBase62 } from '../../lib/ids.js';
import type { PagePosition } from '../../db/images.repo.js';
import { decodeCursor } from '../../services/account-images.service.js';

const messages = { badCursor: 'That cursor is not one this API handed out (it was changed or cut short). Start again without a cursor.' };

// 128 bits of HMAC-SHA256 is plenty to make a forged position unguessable.
const MAC_CHARS = 22;

/**
 * The API's page cursors: the keyset position of My images, sealed with an HMAC under a secret the replicas share
 * (kept in the database like the CSRF secret). A cursor that was edited or made up is a 400, not a silent page.
 */
export function apiCursors(deps: { repos: Pick<Repos, 'appSecrets'>; clock: () => Date }) {
  let secret: Promise<string> | null = null;
  const key = () =>
    (secret ??= deps.repos.appSecrets.getOrCreate('api_cursor', () => randomBase62(64), deps.clock()).catch((err: unknown) => {
      secret = null; // try the database again next time
      throw err;
    }));
  const mac = async (body: string) => createHmac('sha256', await key()).update(body).digest('base64url').slice(0, MAC_CHARS);
  const refuse = () => new BadRequest(messages.badCursor, 'bad_cursor', 'cursor');

  return {
    /** Seals a page's next cursor (null on the last page stays null). */
    async seal(next: string | null): Promise<string | null> {
      return next === null ? null : `${next}.${await mac(next)}`;
    },
    async open(cursor: string): Promise<PagePosition> {
      const dot = cursor.lastIndexOf('.');
      if (dot <= 0) throw refuse();
      const body = cursor.slice(0, dot);
      const given = Buffer.from(cursor.slice(dot + 1));
      const expected = Buffer.from(await mac(body));
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw refuse();
      try {
        return decodeCursor(body);
      } catch {
        throw refuse();
      }
    },
  };
}

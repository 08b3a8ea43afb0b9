import { expect } from 'chai';
import { toRow } from '../../db/images.repo.js';
import { insertInBatches } from '../../db/knex.js';
import { createRepos } from '../../db/repos.js';
import { newImageId } from '../../lib/ids.js';
import { fakeImage } from '../helpers/account-images.js';
import { createScratchDb, migrateThrough } from '../helpers/scratch-db.js';
import { testDialect } from '../helpers/test-db.js';

const SCHEMA = '20261204120000_add_album_image_order';
const BACKFILL = '20261204120100_backfill_album_image_order';

describe(`album_images.image_created_at: added, then backfilled from old links (${testDialect()})`, () => {
  it('the backfill copies each image’s created_at into links made before the column existed, a batch at a time', async function () {
    this.timeout(60_000);
    const scratch = await createScratchDb(testDialect());
    const { db } = scratch;
    try {
      await migrateThrough(db, SCHEMA);
      const repos = createRepos(db);
      const ownerId = 'owner0000000001';
      await repos.users.insert({ id: ownerId, username: 'albumowner', email: 'owner@example.test', passwordHash: 'x', marketingConsent: false, createdAt: new Date() });
      // More images than one batch, each with its own creation time, all in one album.
      const base = Date.UTC(2024, 0, 1);
      const images = Array.from({ length: 1100 }, (_, i) => fakeImage({ ownerId, id: newImageId(), createdAt: new Date(base + i * 60_000) }));
      // Rows as the schema of that time had them: source_url came later.
      await insertInBatches(db, 'images', images.map((image) => { const { source_url: _later, ...row } = toRow(image); return row; }));
      await repos.albums.insert(ownerId, { id: 'album0000000001', title: 'Old album', createdAt: new Date(base) });
      await insertInBatches(
        db,
        'album_images',
        images.map((image) => ({ album_id: 'album0000000001', image_id: image.id, added_at: new Date(base) })),
      );
      expect((await db('album_images').whereNotNull('image_created_at').count({ n: '*' }).first())?.n, 'links as the old code wrote them').to.satisfy((n: unknown) => Number(n) === 0);

      await migrateThrough(db, BACKFILL);
      const rows = (await db('album_images').select('image_id', 'image_created_at')) as Array<{ image_id: string; image_created_at: Date | string | number | null }>;
      expect(rows).to.have.length(images.length);
      const createdAt = new Map(images.map((image) => [image.id, image.createdAt.getTime()]));
      for (const row of rows) expect(new Date(row.image_created_at as string).getTime(), row.image_id).to.equal(createdAt.get(row.image_id));
    } finally {
      await scratch.dispose();
    }
  });
});

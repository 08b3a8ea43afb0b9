import { expect } from 'chai';
import type { Db } from '../../db/knex.js';
import { createScratchDb, migrateThrough } from '../helpers/scratch-db.js';
import { testDialect } from '../helpers/test-db.js';

const SCHEMA = '20261201120000_add_security_log_image_id';
const BACKFILL = '20261201120100_backfill_security_log_image_id';

/** The names of the indexes on a table, from the database's own catalogue. */
async function indexesOf(db: Db, table: string): Promise<Array<{ name: string; definition: string }>> {
  if (db.dialect === 'postgres') {
    const result = await db.raw<{ rows: Array<{ indexname: string; indexdef: string }> }>('select indexname, indexdef from pg_indexes where tablename = ?', [table]);
    return result.rows.map((r) => ({ name: r.indexname, definition: r.indexdef }));
  }
  const rows = await db.raw<Array<{ name: string; sql: string | null }>>("select name, sql from sqlite_master where type = 'index' and tbl_name = ?", [table]);
  return rows.map((r) => ({ name: r.name, definition: r.sql ?? '' }));
}

describe(`security_log: indexed by user_id and image_id (${testDialect()})`, () => {
  it('the schema migration indexes user_id and adds an indexed image_id; the backfill fills it from old rows, a batch at a time', async function () {
    this.timeout(60_000);
    const scratch = await createScratchDb(testDialect());
    const { db } = scratch;
    try {
      await migrateThrough(db, SCHEMA);
      const indexes = await indexesOf(db, 'security_log');
      // An index on exactly that one column, however the dialect quotes it: (`user_id`), ("user_id") or (user_id).
      const on = (column: string) => indexes.filter((i) => new RegExp(`\\(\\s*[\`"]?${column}[\`"]?\\s*\\)`).test(i.definition));
      expect(on('user_id'), JSON.stringify(indexes)).to.have.length(1);
      expect(on('image_id'), JSON.stringify(indexes)).to.have.length(1);

      // Rows as the app wrote them before the column existed: the image id only in the detail.
      const at = new Date('2026-11-20T10:00:00Z');
      const row = (id: string, event: string, detail: object) => ({ id, event, created_at: at, user_id: null, ip: null, user_agent: null, detail: JSON.stringify(detail) });
      const old = [
        row('00000000-0000-4000-8000-000000000001', 'image.upload', { imageId: 'AbCdEfGhIjKl', size: 10 }),
        row('00000000-0000-4000-8000-000000000002', 'image.claim', { imageId: 'ZyXwVuTsRqPo', size: 10 }),
        row('00000000-0000-4000-8000-000000000003', 'image.delete', { imageIds: ['MnOpQrStUvWx'], by: 'expiry' }),
        row('00000000-0000-4000-8000-000000000004', 'image.delete', { imageIds: ['AAAAAAAAAAAA', 'BBBBBBBBBBBB'], by: 'owner' }),
        row('00000000-0000-4000-8000-000000000005', 'auth.login', {}),
        row('00000000-0000-4000-8000-000000000006', 'image.upload', { imageId: 'not an id' }),
      ];
      // More rows than one batch, so the walk has to go on past the first.
      const many = Array.from({ length: 1200 }, (_, i) => row(`10000000-0000-4000-8000-${String(i).padStart(12, '0')}`, 'image.restore', { imageId: `Img${String(i).padStart(9, '0')}` }));
      for (let i = 0; i < many.length; i += 100) await db('security_log').insert(many.slice(i, i + 100));
      await db('security_log').insert(old);

      await migrateThrough(db, BACKFILL);
      const imageIdOf = async (id: string) => ((await db('security_log').where({ id }).first('image_id')) as { image_id: string | null }).image_id;
      expect(await imageIdOf(old[0]!.id)).to.equal('AbCdEfGhIjKl');
      expect(await imageIdOf(old[1]!.id)).to.equal('ZyXwVuTsRqPo');
      expect(await imageIdOf(old[2]!.id), 'a one-image list').to.equal('MnOpQrStUvWx');
      expect(await imageIdOf(old[3]!.id), 'several images: no one image to name').to.equal(null);
      expect(await imageIdOf(old[4]!.id)).to.equal(null);
      expect(await imageIdOf(old[5]!.id), 'not an image id').to.equal(null);
      const filled = (await db('security_log').where('id', 'like', '10000000-%').whereNotNull('image_id').count({ n: '*' }).first()) as { n: number | string };
      expect(Number(filled.n)).to.equal(many.length);
      expect(await imageIdOf(many[1199]!.id)).to.equal('Img000001199');
      // The detail is left as it was.
      expect(JSON.parse(((await db('security_log').where({ id: old[0]!.id }).first('detail')) as { detail: string }).detail)).to.deep.equal({ imageId: 'AbCdEfGhIjKl', size: 10 });
    } finally {
      await scratch.dispose();
    }
  });
});

import type { Knex } from 'knex';
import { toDate } from './knex.js';

export type ImageRecord = {
  id: string;
  deleteKeyHash: string;
  originalName: string;
  mime: string;
  ext: string;
  size: number;
  width: number;
  height: number;
  frames: number;
  sha256: string;
  thumbSize: number;
  thumbWidth: number;
  thumbHeight: number;
  thumbSha256: string;
  createdAt: Date;
};

type ImageRow = {
  id: string;
  delete_key_hash: string;
  original_name: string;
  mime: string;
  ext: string;
  size: number | string;
  width: number;
  height: number;
  frames: number;
  sha256: string;
  thumb_size: number | string;
  thumb_width: number;
  thumb_height: number;
  thumb_sha256: string;
  created_at: Date | number;
};

const fromRow = (r: ImageRow): ImageRecord => ({
  id: r.id,
  deleteKeyHash: r.delete_key_hash,
  originalName: r.original_name,
  mime: r.mime,
  ext: r.ext,
  size: Number(r.size),
  width: r.width,
  height: r.height,
  frames: r.frames,
  sha256: r.sha256,
  thumbSize: Number(r.thumb_size),
  thumbWidth: r.thumb_width,
  thumbHeight: r.thumb_height,
  thumbSha256: r.thumb_sha256,
  createdAt: toDate(r.created_at),
});

const toRow = (i: ImageRecord): ImageRow => ({
  id: i.id,
  delete_key_hash: i.deleteKeyHash,
  original_name: i.originalName,
  mime: i.mime,
  ext: i.ext,
  size: i.size,
  width: i.width,
  height: i.height,
  frames: i.frames,
  sha256: i.sha256,
  thumb_size: i.thumbSize,
  thumb_width: i.thumbWidth,
  thumb_height: i.thumbHeight,
  thumb_sha256: i.thumbSha256,
  created_at: i.createdAt,
});

export function createImagesRepo(db: Knex) {
  return {
    async insert(image: ImageRecord, trx: Knex | Knex.Transaction = db): Promise<void> {
      await trx('images').insert(toRow(image));
    },

    async findById(id: string): Promise<ImageRecord | null> {
      const row = (await db('images').where({ id }).first()) as ImageRow | undefined;
      return row ? fromRow(row) : null;
    },

    async deleteById(id: string, trx: Knex | Knex.Transaction = db): Promise<boolean> {
      return (await trx('images').where({ id }).delete()) > 0;
    },

    async count(): Promise<number> {
      const row = (await db('images').count({ n: '*' }).first()) as { n: number | string } | undefined;
      return Number(row?.n ?? 0);
    },
  };
}

export type ImagesRepo = ReturnType<typeof createImagesRepo>;

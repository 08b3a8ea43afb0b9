import type { Request, Response } from 'express';
import type { Config } from '../../config/config.js';
import type { Visibility } from '../../db/images.repo.js';
import type { StorageDriver } from '../../storage/storage.js';
import { createDelivery } from '../delivery.js';
import { serveStoredFile, type HeldBytes, type StoredFile } from '../serve-stored-file.js';

export type SendOptions = {
  /** Small variants' bytes in memory (the fast path's cache). */
  held?: HeldBytes;
  /** Sets the response's general headers once the kind of answer is known (the fast path runs before the page middleware). */
  headers?: (kind: 'redirect' | 'bytes') => void;
};

/**
 * Sends a variant the caller may see: streamed (or from memory) through the app, or a redirect to the bucket when
 * the serve mode says so. Called only after the access check; the fast path and the full-stack routes share it.
 */
export function variantSender(config: Pick<Config, 's3' | 'storageDriver'>, storage: StorageDriver) {
  const delivery = createDelivery(config, storage);
  return async (req: Request, res: Response, visibility: Visibility, file: StoredFile, options: SendOptions = {}): Promise<void> => {
    const redirect = await delivery({ key: file.key, mime: file.mime, filename: file.filename, visibility });
    if (redirect) {
      options.headers?.('redirect');
      res.set({ 'Cache-Control': redirect.cacheControl, 'Referrer-Policy': 'no-referrer' }).redirect(302, redirect.url);
      return;
    }
    options.headers?.('bytes');
    await serveStoredFile(req, res, storage, file, options.held);
  };
}

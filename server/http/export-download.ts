import contentDisposition from 'content-disposition';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { writeExport, type ExportDeps } from '../services/export.service.js';

/**
 * Streams an account's export ZIP as a download (the holder's own, or one staff hand over for an access request).
 * Once the headers are out an error can only cut the download short: the client sees that, the operator the reason.
 */
export async function sendExport(req: Request, res: Response, deps: ExportDeps & { logger: Logger }, user: { id: string; username: string }, now: Date): Promise<void> {
  res.set({
    'Cache-Control': 'no-store',
    'Content-Type': 'application/zip',
    'Content-Disposition': contentDisposition(`pixbin-${user.username}-${now.toISOString().slice(0, 10)}.zip`),
    'X-Content-Type-Options': 'nosniff',
  });
  try {
    await writeExport({ repos: deps.repos, storage: deps.storage }, user.id, now, res);
  } catch (err) {
    if (res.destroyed && !res.writableFinished && req.socket.destroyed) {
      deps.logger.info('export cancelled by the client');
      return;
    }
    deps.logger.error({ err }, 'export failed part-way');
    res.destroy();
  }
}

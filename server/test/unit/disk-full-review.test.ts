import { expect } from 'chai';
import express from 'express';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { createDatabaseOutageLog } from '../../db/outage-log.js';
import { isDatabaseUnavailable } from '../../db/unavailable.js';
import { messages } from '../../errors.js';
import { toPublicError } from '../../http/errors.js';
import { problemHandler } from '../../http/api/problem.js';
import { createNoRoomLog, isStorageFull, NoRoomForUpload, storageFullCode } from '../../lib/storage-full.js';
import { failedForLackOfSpace, OUT_OF_SPACE_BELOW_BYTES } from '../../services/image-processing.service.js';

/** Review of issue 15: a full disk is told apart from a database outage and from "too large for the space left". */

const MB = 1024 * 1024;
const sqliteFull = () => Object.assign(new Error('insert into "api_requests" ... - database or disk is full'), { code: 'SQLITE_FULL' });

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { lines, logger };
}

describe('a full disk is not a database outage, and "too large for the space left" is not a full disk', () => {
  it('SQLITE_FULL is not "the database is not answering": the outage log ignores it, the disk-full log takes it', () => {
    expect(isDatabaseUnavailable(sqliteFull())).to.equal(false);
    expect(isDatabaseUnavailable(Object.assign(new Error('busy'), { code: 'SQLITE_BUSY' }))).to.equal(true);
    const { lines, logger } = capture();
    expect(createDatabaseOutageLog(logger).failed(sqliteFull(), 'background')).to.equal(false);
    expect(lines).to.deep.equal([]);
    expect(storageFullCode(sqliteFull())).to.equal('SQLITE_FULL');
  });

  it('a full disk met by a request that is not an upload gets a message that says nothing about a file', () => {
    const neutral = toPublicError(sqliteFull(), { upload: false });
    expect(neutral).to.include({ status: 507, code: 'storage_full', message: messages.storageFullNeutral });
    expect(neutral.message).to.not.match(/upload|file/);
    expect(toPublicError(sqliteFull())).to.include({ message: messages.storageFullNeutral });
    expect(toPublicError(sqliteFull(), { upload: true })).to.include({ status: 507, message: messages.storageFull });
  });

  it('an upload too large for the free space: 507 with its own message, outside the disk-full burst', () => {
    const err = new NoRoomForUpload(150 * MB, 50 * MB);
    expect(storageFullCode(err)).to.equal(null);
    expect(isStorageFull(err)).to.equal(false);
    const answer = toPublicError(err, { upload: true });
    expect(answer).to.include({ status: 507, code: 'storage_full', message: messages.noRoomForUpload });
    expect(answer.headers).to.deep.equal({ 'Retry-After': '60' });
    expect(answer.message).to.not.match(/run out of disk space/);
  });

  it('logs refusals for lack of room at warn, at most one line a minute, with a count', () => {
    const { lines, logger } = capture();
    let now = 1_000_000;
    const log = createNoRoomLog(logger, { now: () => now });
    expect(log.failed(new Error('corrupt'))).to.equal(false);
    expect(log.failed(sqliteFull())).to.equal(false);
    for (let i = 0; i < 5; i++) {
      expect(log.failed(new NoRoomForUpload(150 * MB, 50 * MB))).to.equal(true);
      now += 10_000;
    }
    // 5 refusals over 50 s: one line. The sixth, 60 s after the first line, logs with the count of the 5 since.
    expect(lines.map((l) => [l.level, l.refused])).to.deep.equal([[40, 1]]);
    expect(lines[0]).to.include({ storage: 'short', neededBytes: 150 * MB, freeBytes: 50 * MB });
    expect(String(lines[0]!.msg)).to.match(/needs 150 MB free in DATA_DIR, 50 MB is free/);
    now = 1_000_000 + 60_000;
    log.failed(new NoRoomForUpload(150 * MB, 50 * MB));
    expect(lines.map((l) => [l.level, l.refused])).to.deep.equal([
      [40, 1],
      [40, 5],
    ]);
    expect(lines.some((l) => /disk full/.test(String(l.msg)))).to.equal(false);
  });

  it('a processing failure is the disk’s only when it says so or left next to nothing free: a corrupt image stays 422', () => {
    const corrupt = new Error('VipsJpeg: Premature end of input file');
    // 50 MB free, below this image's need: still the file's fault.
    expect(failedForLackOfSpace(corrupt, 50 * MB)).to.equal(false);
    expect(failedForLackOfSpace(corrupt, null)).to.equal(false);
    expect(failedForLackOfSpace(corrupt, OUT_OF_SPACE_BELOW_BYTES - 1)).to.equal(true);
    expect(failedForLackOfSpace(new Error('vips__file_write: write failed: No space left on device'), 50 * MB)).to.equal(true);
  });
});

describe('the API error pipeline after the headers went out', () => {
  it('closes the connection itself and does not pass the error on to be logged a second time', async () => {
    const { lines, logger } = capture();
    let passedOn = 0;
    const app = express();
    app.get('/api/v1/half', (_req, res, next) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      res.write('partial');
      next(new Error('the source failed midway'));
    });
    app.use('/api/v1', problemHandler({ publicUrl: 'http://localhost', logger, routeOf: () => '/half' }));
    app.use(((err, _req, _res, next) => {
      passedOn += 1;
      next(err);
    }) as express.ErrorRequestHandler);
    const server = http.createServer(app).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const outcome = await new Promise<string>((resolve) => {
        http
          .get(`http://127.0.0.1:${port}/api/v1/half`, (res) => {
            res.on('data', () => undefined);
            res.on('end', () => resolve('complete'));
            res.on('error', () => resolve('cut off'));
            res.on('aborted', () => resolve('cut off'));
          })
          .on('error', () => resolve('cut off'));
      });
      expect(outcome, 'the client sees the answer cut off, never a complete one').to.equal('cut off');
      expect(passedOn, 'the error did not go on to the next error handler').to.equal(0);
      expect(lines.filter((l) => l.msg === 'api request failed')).to.have.length(1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

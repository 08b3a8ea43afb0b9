import { expect } from 'chai';
import Database from 'better-sqlite3';
import fs from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import knexFactory from 'knex';
import pg from 'pg';
import pino from 'pino';
import { createDatabaseOutageLog } from '../../db/outage-log.js';
import { databaseErrorCode, isDatabaseUnavailable } from '../../db/unavailable.js';
import { toPublicError } from '../../http/errors.js';
import { StorageUnavailable } from '../../storage/storage.js';
import { freePort } from '../helpers/child-process.js';

/** What a real driver throws (never a hand-made object): the promise's rejection, or a synchronous throw. */
async function failureOf(work: () => unknown): Promise<unknown> {
  try {
    await work();
  } catch (err) {
    return err;
  }
  throw new Error('expected the work to fail');
}

/** A loopback TCP server that does something unhelpful with each connection. */
async function tcpServer(onConnection: (socket: Socket) => void): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('telling "the database is not answering" from other errors', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pixbin-unavailable-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('a PostgreSQL port nobody listens on, through knex and through pg: ECONNREFUSED', async () => {
    const url = `postgres://postgres@127.0.0.1:${await freePort()}/none`;
    const db = knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 1 }, log: { warn: () => undefined } });
    try {
      for (const err of [await failureOf(() => db.raw('select 1')), await failureOf(() => db('users').where({ id: 'x' }).first())]) {
        expect(isDatabaseUnavailable(err), String(err)).to.equal(true);
        expect(databaseErrorCode(err)).to.equal('ECONNREFUSED');
      }
    } finally {
      await db.destroy();
    }
    const client = new pg.Client({ connectionString: url });
    const err = await failureOf(() => client.connect());
    expect(isDatabaseUnavailable(err)).to.equal(true);
    expect(databaseErrorCode(err)).to.equal('ECONNREFUSED');
  });

  it('a server that accepts and then hangs up, or never answers: connection lost, connect timeout', async () => {
    const hangsUp = await tcpServer((socket) => socket.destroy());
    const silent = await tcpServer(() => undefined);
    try {
      const lost = await failureOf(() => new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${hangsUp.port}/x` }).connect());
      expect(isDatabaseUnavailable(lost), String(lost)).to.equal(true);
      expect(databaseErrorCode(lost)).to.equal('connection_lost');

      const slow = await failureOf(() => new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${silent.port}/x`, connectionTimeoutMillis: 100 }).connect());
      expect(isDatabaseUnavailable(slow), String(slow)).to.equal(true);
      expect(databaseErrorCode(slow)).to.equal('timeout');
    } finally {
      await hangsUp.close();
      await silent.close();
    }
  });

  it('a knex pool with no free connection in time: KnexTimeoutError', async () => {
    const db = knexFactory({ client: 'better-sqlite3', connection: { filename: path.join(dir, 'pool.sqlite') }, useNullAsDefault: true, pool: { min: 1, max: 1 }, acquireConnectionTimeout: 100, log: { warn: () => undefined } });
    try {
      const err = await db.transaction(async () => failureOf(() => db.raw('select 1')));
      expect((err as Error).name).to.equal('KnexTimeoutError');
      expect(isDatabaseUnavailable(err)).to.equal(true);
      expect(databaseErrorCode(err)).to.equal('pool_timeout');
    } finally {
      await db.destroy();
    }
  });

  it('SQLite locked by another process past the busy timeout, or a file that cannot be opened', async () => {
    const file = path.join(dir, 'busy.sqlite');
    const holder = new Database(file);
    const waiter = new Database(file, { timeout: 0 });
    try {
      holder.exec('create table t (x integer)');
      holder.exec('begin immediate');
      const busy = await failureOf(() => waiter.exec('insert into t values (1)'));
      expect(databaseErrorCode(busy)).to.equal('SQLITE_BUSY');
      expect(isDatabaseUnavailable(busy)).to.equal(true);
    } finally {
      holder.close();
      waiter.close();
    }
    // A folder where the database file should be.
    const cannotOpen = await failureOf(() => new Database(dir));
    expect(databaseErrorCode(cannotOpen)).to.equal('SQLITE_CANTOPEN');
  });

  it('a wrong statement, a constraint violation, a storage outage or a plain bug is not a database outage', async () => {
    const db = new Database(path.join(dir, 'ok.sqlite'));
    try {
      db.exec('create table t (x integer primary key)');
      db.exec('insert into t values (1)');
      const errors = [
        await failureOf(() => db.exec('insert into t values (1)')),
        await failureOf(() => db.exec('selec 1')),
        await failureOf(() => db.exec('select * from missing')),
        new StorageUnavailable('S3 get failed: the store is unavailable', { cause: await failureOf(() => new pg.Client({ port: 9, host: '127.0.0.1' }).connect()) }),
        new TypeError("Cannot read properties of undefined (reading 'id')"),
        null,
        'a string',
      ];
      for (const err of errors) expect(isDatabaseUnavailable(err), String(err)).to.equal(false);
      expect(toPublicError(errors[3]).code).to.equal('storage_unavailable');
    } finally {
      db.close();
    }
  });

  it('answers 503 database_unavailable with Retry-After, and a message with no driver text', async () => {
    const port = await freePort();
    const err = await failureOf(() => new pg.Client({ port, host: '127.0.0.1' }).connect());
    const answer = toPublicError(err);
    expect(answer).to.include({ status: 503, code: 'database_unavailable' });
    expect(answer.headers).to.deep.equal({ 'Retry-After': '5' });
    expect(answer.message).to.match(/database is not answering/).and.not.match(/ECONNREFUSED|127\.0\.0\.1/);
  });
});

describe('the database outage log', () => {
  const capture = () => {
    const lines: Array<Record<string, any>> = [];
    const logger = pino(
      { level: 'debug' },
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, any>);
          cb();
        },
      }),
    );
    return { logger, lines };
  };
  const refused = async () => failureOf(() => new pg.Client({ port: 9, host: '127.0.0.1' }).connect());

  it('logs the first failure of an outage, counts the rest, and one line when the database answers again', async () => {
    const { logger, lines } = capture();
    const log = createDatabaseOutageLog(logger, { probeEveryMs: 10 });
    let up = false;
    log.probeWith(async () => {
      if (!up) throw await refused();
    });
    const err = await refused();
    for (let i = 0; i < 200; i++) expect(log.failed(err)).to.equal(true);
    expect(log.failed(err, 'background')).to.equal(true);
    expect(lines).to.have.length(1);
    expect(lines[0]).to.include({ level: 50, code: 'ECONNREFUSED', database: 'unavailable' });
    expect(lines[0]!.msg).to.match(/^database is not answering/);
    expect(JSON.stringify(lines[0])).to.not.include('stack');

    up = true;
    const deadline = Date.now() + 5000;
    while (log.active && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(lines).to.have.length(2);
    expect(lines[1]).to.include({ level: 30, database: 'answering', failedRequests: 200, failedBackground: 1 });
    expect(lines[1]!.msg).to.match(/^database is answering again after [\d.]+ s, 200 requests failed \(and 1 background write\)$/);

    // The next outage is a new one, logged again.
    expect(log.failed(err)).to.equal(true);
    expect(lines).to.have.length(3);
    expect(lines[2]!.msg).to.match(/^database is not answering/);
  });

  it('says nothing about other errors (the caller logs them), and sums up a long outage every 30 s', async () => {
    const { logger, lines } = capture();
    let now = 1_000_000;
    const log = createDatabaseOutageLog(logger, { now: () => now, probeEveryMs: 60_000 });
    expect(log.failed(new TypeError('a bug'))).to.equal(false);
    expect(lines).to.deep.equal([]);

    const err = await refused();
    log.failed(err);
    // Two failures a second: the 60th falls at 30 s.
    for (let second = 1; second <= 65; second++) {
      now += 1000;
      log.failed(err);
      log.failed(err);
    }
    expect(lines.map((l) => l.msg)).to.deep.equal([
      'database is not answering: requests get 503 with Retry-After until it is back (further failures are counted, not logged)',
      'database still not answering after 30 s: 60 requests failed so far',
      'database still not answering after 60 s: 120 requests failed so far',
    ]);
  });
});

import { expect } from 'chai';
import express from 'express';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { isDatabaseUnavailable } from '../../db/unavailable.js';
import { toPublicError } from '../../http/errors.js';

/**
 * Found by the stalled-body drill (issue 15): when a client hung up in the middle of a form body, body-parser's
 * "request aborted" error (code ECONNABORTED, status 400) was taken for a database outage: it was logged at error
 * level as "database is not answering" and would have been answered 503. It is the client's doing.
 */
async function abortedFormError(): Promise<unknown> {
  const app = express();
  let caught: (err: unknown) => void = () => undefined;
  const error = new Promise<unknown>((resolve) => (caught = resolve));
  app.use(express.urlencoded({ extended: false, limit: '64kb' }));
  app.use((_req: express.Request, res: express.Response) => res.end());
  app.use((err: unknown, _req: express.Request, _res: express.Response, _next: express.NextFunction) => caught(err));
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const socket = connect(port, '127.0.0.1', () => {
      socket.write('POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 2000\r\n\r\nlogin=someone&pass', () => socket.destroy());
    });
    socket.on('error', () => undefined);
    return await error;
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('a client hanging up mid-body', () => {
  it('is a 400 about the request, not a database outage', async () => {
    const err = await abortedFormError();
    expect(err).to.include({ code: 'ECONNABORTED', status: 400 });
    expect(isDatabaseUnavailable(err)).to.equal(false);
    expect(toPublicError(err)).to.include({ status: 400, code: 'bad_request' });
  });
});

import { expect } from 'chai';
import {
  listPendingPrivacyRequests,
  PRIVACY_REQUEST_DUE_DAYS,
  recordPrivacyRequest,
  updatePrivacyRequest,
} from '../../services/privacy-requests.service.js';
import { createRepos } from '../../db/repos.js';
import { BadRequest, NotFound } from '../../errors.js';
import { testDatabase } from '../helpers/test-db.js';

const DAY = 86_400_000;

describe('privacy requests register', () => {
  const db = () => testDatabase().db;
  const repos = () => createRepos(db());

  it('records a request as open, due 30 days after it arrived, and lists pending ones by urgency', async () => {
    const received = new Date('2026-11-01T10:00:00Z');
    const first = await recordPrivacyRequest(repos(), { kind: 'restriction', receivedAt: received, requester: ' someone@example.test ', note: 'Asked by email' });
    expect(first).to.include({ kind: 'restriction', status: 'open', requester: 'someone@example.test', note: 'Asked by email', userId: null });
    expect(first.dueAt.getTime() - first.receivedAt.getTime()).to.equal(PRIVACY_REQUEST_DUE_DAYS * DAY);
    const earlier = await recordPrivacyRequest(repos(), { kind: 'objection', receivedAt: new Date(received.getTime() - 5 * DAY) });
    expect((await listPendingPrivacyRequests(repos())).map((r) => r.id)).to.deep.equal([earlier.id, first.id]);

    const later = new Date(received.getTime() + DAY);
    const doing = await updatePrivacyRequest(repos(), first.id, { status: 'in_progress', note: 'Looking into it' }, later);
    expect(doing).to.include({ status: 'in_progress', note: 'Looking into it' });
    expect(doing.updatedAt.getTime()).to.equal(later.getTime());
    await updatePrivacyRequest(repos(), earlier.id, { status: 'done' }, later);
    expect((await listPendingPrivacyRequests(repos())).map((r) => r.id)).to.deep.equal([first.id]);
    const [stored] = await db()('privacy_requests').where({ id: earlier.id });
    expect(stored.status).to.equal('done');
  });

  it('refuses unknown kinds and statuses, an oversized note, and a missing request, with clear errors', async () => {
    const now = new Date();
    for (const kind of ['delete everything', '', 'ACCESS']) {
      const err = await recordPrivacyRequest(repos(), { kind, receivedAt: now }).then(() => null, (e: unknown) => e);
      expect(err, kind).to.be.instanceOf(BadRequest);
      expect((err as BadRequest).message).to.include('access, rectification, erasure');
    }
    const request = await recordPrivacyRequest(repos(), { kind: 'access', receivedAt: now });
    expect(await updatePrivacyRequest(repos(), request.id, { status: 'closed' }, now).then(() => null, (e: unknown) => e)).to.be.instanceOf(BadRequest);
    expect(await updatePrivacyRequest(repos(), request.id, { status: 'done', note: 'x'.repeat(5001) }, now).then(() => null, (e: unknown) => e)).to.be.instanceOf(BadRequest);
    expect(await updatePrivacyRequest(repos(), '00000000-0000-4000-8000-000000000000', { status: 'done' }, now).then(() => null, (e: unknown) => e)).to.be.instanceOf(NotFound);
    expect(await db()('privacy_requests')).to.have.length(1);
  });
});

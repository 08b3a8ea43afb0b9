import { expect } from 'chai';
import type { UserRecord } from '../../db/users.repo.js';
import { GUEST, hasRole, userOf, type Caller } from '../../services/caller.js';
import { canView } from '../../services/images.service.js';

const user = (over: Partial<UserRecord> = {}) => ({ id: 'u1', role: 'user', deletionRequestedAt: null, ...over }) as UserRecord;
const session = (u: UserRecord): Caller => ({ kind: 'session', user: u, session: { idHash: 'h', publicId: 'p', reauthAt: null } });

describe('the caller', () => {
  it('is a guest with no account, or a session with its user', () => {
    expect(userOf(GUEST)).to.equal(null);
    expect(userOf(session(user()))?.id).to.equal('u1');
  });

  it('has a staff role only while signed in with it and not waiting for a purge', () => {
    expect(hasRole(GUEST, 'admin', 'moderator')).to.equal(false);
    expect(hasRole(session(user()), 'admin', 'moderator')).to.equal(false);
    expect(hasRole(session(user({ role: 'moderator' })), 'admin', 'moderator')).to.equal(true);
    expect(hasRole(session(user({ role: 'moderator' })), 'admin')).to.equal(false);
    expect(hasRole(session(user({ role: 'admin', deletionRequestedAt: new Date() })), 'admin')).to.equal(false);
  });

  it('decides who may view a private image: its owner only, never a guest', () => {
    const privateImage = { visibility: 'private' as const, ownerId: 'u1' };
    expect(canView(privateImage, session(user()))).to.equal(true);
    expect(canView(privateImage, session(user({ id: 'u2' })))).to.equal(false);
    expect(canView(privateImage, GUEST)).to.equal(false);
    expect(canView({ visibility: 'private', ownerId: null }, GUEST), 'an unclaimed private image is nobody’s').to.equal(false);
    expect(canView({ visibility: 'unlisted', ownerId: 'u1' }, GUEST)).to.equal(true);
  });
});

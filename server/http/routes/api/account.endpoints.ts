import type { RouteDeps } from '../../route-deps.js';
import { ownApiKey } from '../../../services/api-keys.service.js';
import type { ApiSurface } from '../../api/endpoint.js';
import { MeSchema } from '../../api/schemas.js';
import { allowanceOf } from '../../../services/upload-policy.service.js';

export type AccountEndpointDeps = Pick<RouteDeps, 'config' | 'apiKeys'>;

/** /api/v1/me: whose key this is, how much of the quota is used, and what the key may do. */
export function accountEndpoints(api: ApiSurface, deps: AccountEndpointDeps): void {
  api.keyed({
    method: 'get',
    path: '/me',
    operationId: 'getMe',
    tag: 'Account',
    scope: 'account:read',
    summary: 'The account and the key',
    description: 'The account the key belongs to, its storage use and quota, and the key’s own name and scopes. Until the email address is confirmed, the quota is what the site allows unconfirmed accounts (possibly nothing: uploads then answer 403 `email_unverified`).',
    success: { status: 200, description: 'The account.', schema: MeSchema },
    handle: async ({ res, caller }) => {
      const { user } = caller;
      const key = await ownApiKey(deps.apiKeys, user.id, caller.keyId);
      const allowance = allowanceOf(user, deps.config);
      res.json({
        id: user.id,
        username: user.username,
        email: user.email,
        email_verified: user.emailVerifiedAt !== null,
        created_at: user.createdAt.toISOString(),
        quota: { used_bytes: allowance.used, limit_bytes: allowance.quota },
        key: { id: key.id, name: key.name, scopes: caller.scopes },
      });
    },
  });
}

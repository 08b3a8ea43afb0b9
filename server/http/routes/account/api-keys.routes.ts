import { Router, type Request, type Response } from 'express';
import type { ApiKeyRecord } from '../../../db/api-keys.repo.js';
import { reauthenticate } from '../../../services/account-settings.service.js';
import { createApiKey, keyPreview, KEY_LIFETIMES, listApiKeys, MAX_KEY_NAME_CHARS, ownApiKey, revokeApiKey, type NewApiKey } from '../../../services/api-keys.service.js';
import { keyStatus, keyUsage, RECENT_REQUESTS, usageByKey } from '../../../services/api-usage.service.js';
import { API_SCOPES, type ApiScope, type SessionCaller } from '../../../services/caller.js';
import { formError } from '../../errors.js';
import { field, fieldList } from '../../form-fields.js';
import { REAUTH_FIELD, reauthIsRecent } from '../../middleware/staff.middleware.js';
import { authOf, requireUser } from '../../middleware/require-user.middleware.js';
import { clientInfo } from '../../request-info.js';
import { humanBytes } from '../../../lib/format.js';
import type { RouteDeps } from '../../route-deps.js';
import { dataUrl, flameshotCommand, hostOf, sharexConfig, sharexFileName, SHELL_SCRIPT_NAME, shellScript } from '../../uploader-configs.js';

const messages = {
  revoked: 'The key was revoked. Programs still using it now get "401 Unauthorized".',
  scopes: {
    'images:read': 'See your images and their details',
    'images:write': 'Upload images and change their title or visibility',
    'images:delete': 'Delete your images',
    'albums:read': 'See your albums',
    'albums:write': 'Create, change and delete albums, and add or remove their images',
    'account:read': 'See your username, storage use and quota',
    'webhooks:manage': 'Create, change and delete your webhooks, and see their delivery logs',
  } satisfies Record<ApiScope, string>,
};

/** An uploader needs these two: upload, and read the image back. */
const DEFAULT_SCOPES: readonly ApiScope[] = ['images:read', 'images:write'];
const NO_STORE = { 'Cache-Control': 'no-store' };
const when = (d: Date): string => `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
const day = (d: Date): string => d.toISOString().slice(0, 10);

type FormValues = { name: string; scopes: string[]; expires: string };

/** What a page may show of a key: never the stored hash. */
const shown = (k: ApiKeyRecord, now: Date) => ({
  id: k.id,
  name: k.name,
  scopes: k.scopes,
  createdAt: k.createdAt,
  expiresAt: k.expiresAt,
  lastUsedAt: k.lastUsedAt,
  revokedAt: k.revokedAt,
  preview: keyPreview(k.id),
  status: keyStatus(k, now),
});

/** The account's API keys: list and create, the one-time page showing a new key, revoke, and each key's use. */
export function accountApiKeysRoutes(deps: Pick<RouteDeps, 'apiKeys' | 'clock' | 'config' | 'csrf' | 'repos' | 'settings'>): Router {
  const router = Router();
  const reauthMinutes = deps.config.staffReauthMinutes;
  const usage = { repos: deps.repos, clock: deps.clock, retentionDays: deps.config.apiLogRetentionDays };

  /** Creating a key asks for the password unless this session typed it within the re-auth window. */
  const confirmedRecently = (auth: SessionCaller): boolean => reauthIsRecent(auth, deps.clock(), reauthMinutes);

  const renderList = async (req: Request, res: Response, status: number, extra: { error?: string; notice?: string; values?: FormValues; askPassword?: boolean }) => {
    const auth = authOf(req);
    const now = deps.clock();
    const [records, use] = await Promise.all([listApiKeys(deps.apiKeys, auth.user.id), usageByKey(usage, auth.user.id)]);
    const keys = records.map((k) => ({ ...shown(k, now), use: use.get(k.id) ?? { requests: 0, uploads: 0, bytes: 0 } }));
    res.status(status).set(NO_STORE).render('account/api-keys', {
      title: 'API keys',
      when,
      day,
      keys,
      scopes: API_SCOPES.map((s) => ({ value: s, label: messages.scopes[s] })),
      lifetimes: KEY_LIFETIMES,
      maxNameChars: MAX_KEY_NAME_CHARS,
      values: { name: '', scopes: [...DEFAULT_SCOPES], expires: 'never' },
      askPassword: !confirmedRecently(auth),
      reauthMinutes,
      retentionDays: deps.config.apiLogRetentionDays,
      humanBytes,
      ...extra,
    });
  };

  const renderCreated = (res: Response, created: NewApiKey) => {
    const publicUrl = deps.config.publicUrl;
    const { record, fullKey } = created;
    // The downloads are data: URLs, so the key lives only in this answer; the page text shows it once (the copy
    // field), and the script shown for reading has the preview where the key goes.
    res.status(201).set({ ...NO_STORE, 'Referrer-Policy': 'no-referrer' }).render('account/api-key-created', {
      title: 'Your new API key',
      when,
      key: { ...shown(record, deps.clock()), full: fullKey },
      host: hostOf(publicUrl),
      sharex: { href: dataUrl('application/json', `${JSON.stringify(sharexConfig(publicUrl, fullKey), null, 2)}\n`), fileName: sharexFileName(publicUrl) },
      script: { href: dataUrl('text/x-shellscript', shellScript(publicUrl, fullKey)), fileName: SHELL_SCRIPT_NAME, shown: shellScript(publicUrl, keyPreview(record.id)) },
      flameshot: flameshotCommand(),
    });
  };

  router.get('/account/api-keys', requireUser, async (req, res) => {
    await renderList(req, res, 200, { notice: req.query.done === 'revoked' ? messages.revoked : undefined });
  });

  router.post('/account/api-keys', requireUser, deps.csrf.protect, async (req, res) => {
    const auth = authOf(req);
    const values: FormValues = { name: field(req, 'name'), scopes: fieldList(req, 'scopes'), expires: field(req, 'expires') };
    let confirmed = confirmedRecently(auth);
    let created: NewApiKey;
    try {
      if (!confirmed) {
        await reauthenticate(deps.settings, auth.user, auth.session.idHash, field(req, REAUTH_FIELD), clientInfo(req), 'api_key_create');
        confirmed = true;
      }
      created = await createApiKey(deps.apiKeys, auth.user, { name: values.name, scopes: values.scopes, lifetime: values.expires }, clientInfo(req));
    } catch (err) {
      const refused = formError(req, res, err);
      // The password is never echoed back; the other fields are, so nothing has to be typed twice.
      await renderList(req, res, refused.status, { error: refused.message, values, askPassword: !confirmed });
      return;
    }
    renderCreated(res, created);
  });

  router.post('/account/api-keys/:keyId/revoke', requireUser, deps.csrf.protect, async (req, res) => {
    await revokeApiKey(deps.apiKeys, authOf(req).user.id, String(req.params.keyId), clientInfo(req));
    res.redirect(303, '/account/api-keys?done=revoked');
  });

  router.get('/account/api-keys/:keyId', requireUser, async (req, res) => {
    const userId = authOf(req).user.id;
    const key = await ownApiKey(deps.apiKeys, userId, String(req.params.keyId));
    const { recent, daily } = await keyUsage(usage, userId, key.id);
    res.set(NO_STORE).render('account/api-key', {
      title: `API key ${key.name}`,
      when,
      key: shown(key, deps.clock()),
      recent,
      recentLimit: RECENT_REQUESTS,
      daily,
      retentionDays: deps.config.apiLogRetentionDays,
    });
  });

  return router;
}

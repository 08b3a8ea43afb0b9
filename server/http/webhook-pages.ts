/**
 * The webhook pages, built alike for an account (/account/webhooks) and for the site (/admin/webhooks): the list
 * with the create form, an endpoint's page (edit, enable/disable, rotate, delete, test, the delivery log with
 * Resend) and the one-time secret page. Route files pass where they live, who may use them and whose endpoints.
 */
import { Router, type Request, type RequestHandler, type Response } from 'express';
import type { WebhookEndpoint } from '../db/webhooks.repo.js';
import {
  createEndpoint,
  deleteEndpoint,
  deliveryLog,
  eventsOfScope,
  getEndpoint,
  listEndpoints,
  MAX_DESCRIPTION_CHARS,
  MAX_URL_CHARS,
  resendDelivery,
  rotateSecret,
  sendTest,
  updateEndpoint,
  type WebhookScope,
  type WebhooksDeps,
} from '../services/webhooks.service.js';
import { AppError, BadRequest } from '../errors.js';
import { formError } from './errors.js';
import { checked, field, fieldList } from './form-fields.js';
import type { RouteDeps } from './route-deps.js';

const messages = {
  created: 'The endpoint was created.',
  saved: 'Your changes were saved.',
  enabled: 'The endpoint is on again. Deliveries that failed while it was off can be resent from the log below.',
  disabled: 'The endpoint is off: nothing is sent to it, and its pending deliveries were ended.',
  deleted: 'The endpoint and its delivery log were deleted.',
  tested: 'A test event was queued. Reload this page in a few seconds to see how the receiver answered.',
  resent: 'The delivery was queued again, with the same webhook-id.',
  confirmDelete: 'Tick the box to confirm: the endpoint and its delivery log are deleted for good.',
  events: {
    'image.uploaded': 'An image was uploaded',
    'image.updated': 'An image’s title or visibility changed',
    'image.deleted': 'An image was deleted',
    'album.created': 'An album was created',
    'album.updated': 'An album was renamed or its images changed',
    'album.deleted': 'An album was deleted',
    'report.created': 'Someone reported an image or album',
    'moderation.decided': 'Staff took a moderation decision',
    'account.deleted': 'An account asked to be deleted, or was erased',
  } as Record<string, string>,
  disabledBecause: {
    owner: 'because it was switched off',
    gone: 'because the receiver answered 410 Gone',
    failing: 'because deliveries kept failing (every retry of a delivery failed)',
    account_deleted: 'because the account is waiting to be deleted',
  } as Record<string, string>,
};

const DONE = { created: messages.created, saved: messages.saved, enabled: messages.enabled, disabled: messages.disabled, deleted: messages.deleted, tested: messages.tested, resent: messages.resent } as Record<string, string>;
const NO_STORE = { 'Cache-Control': 'no-store' };
const when = (d: Date | null): string => (d ? `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC` : 'never');

type FormValues = { url: string; description: string; events: string[] };

/** How one set of webhook pages differs from the other: where they live, who may use them, whose endpoints they show. */
export type WebhookPagesOptions = {
  base: string;
  views: { list: string; endpoint: string; secret: string };
  guard: RequestHandler[];
  /** Extra checks for changes that add or redirect deliveries, or reveal a secret (the admin's re-auth). */
  sensitive: RequestHandler[];
  scopeOf: (req: Request) => WebhookScope;
  /** What the pages say about whose endpoints these are. */
  admin: boolean;
};

/** The view's picture of an endpoint: never its secret. */
const shown = (e: WebhookEndpoint) => ({
  id: e.id,
  url: e.url,
  description: e.description,
  events: e.events,
  enabled: e.enabled,
  disabledReason: e.disabledReason,
  disabledBecause: e.disabledReason ? messages.disabledBecause[e.disabledReason] : null,
  disabledAt: e.disabledAt,
  failingSince: e.failingSince,
  previousSecretUntil: e.previousSecret ? e.previousSecretUntil : null,
  createdAt: e.createdAt,
});

/** The list, endpoint and one-time secret pages, with their forms; the account's and the admin's are built alike. */
export function webhookPages(deps: Pick<RouteDeps, 'clock' | 'csrf' | 'outbound' | 'repos' | 'config' | 'limits'>, options: WebhookPagesOptions): Router {
  const router = Router();
  const webhooks: WebhooksDeps = { repos: deps.repos, clock: deps.clock, outbound: deps.outbound, limits: deps.limits };
  const { base, views, guard, sensitive, scopeOf } = options;
  const eventChoices = (scope: WebhookScope) => eventsOfScope(scope).map((value) => ({ value, label: messages.events[value] ?? value }));
  const common = { base, admin: options.admin, when, maxUrl: MAX_URL_CHARS, maxDescription: MAX_DESCRIPTION_CHARS, retentionDays: deps.config.webhookLogRetentionDays };
  const idOf = (req: Request) => String(req.params.id);

  const renderList = async (req: Request, res: Response, status: number, extra: { error?: string; values?: FormValues } = {}) => {
    const scope = scopeOf(req);
    const endpoints = (await listEndpoints(webhooks, scope)).map(shown);
    const done = typeof req.query.done === 'string' ? DONE[req.query.done] : undefined;
    res.status(status).set(NO_STORE).render(views.list, {
      ...common,
      title: options.admin ? 'Site webhooks' : 'Webhooks',
      endpoints,
      eventChoices: eventChoices(scope),
      values: { url: '', description: '', events: [] },
      notice: done,
      error: null,
      ...extra,
    });
  };

  const renderEndpoint = async (req: Request, res: Response, status: number, extra: { error?: string; values?: FormValues } = {}) => {
    const scope = scopeOf(req);
    const cursor = typeof req.query.before === 'string' ? req.query.before : null;
    const log = await deliveryLog(webhooks, scope, idOf(req), { cursor });
    const endpoint = shown(log.endpoint);
    const done = typeof req.query.done === 'string' ? DONE[req.query.done] : undefined;
    res.status(status).set(NO_STORE).render(views.endpoint, {
      ...common,
      title: `Webhook ${new URL(endpoint.url).host}`,
      endpoint,
      deliveries: log.deliveries,
      next: log.next,
      firstPage: cursor === null,
      eventChoices: eventChoices(scope),
      values: { url: endpoint.url, description: endpoint.description ?? '', events: endpoint.events },
      notice: done,
      error: null,
      ...extra,
    });
  };

  const renderSecret = (res: Response, endpoint: WebhookEndpoint, secret: string, rotated: boolean) => {
    res.status(rotated ? 200 : 201).set({ ...NO_STORE, 'Referrer-Policy': 'no-referrer' }).render(views.secret, {
      ...common,
      title: rotated ? 'The new signing secret' : 'Your new webhook',
      endpoint: shown(endpoint),
      secret,
      rotated,
    });
  };

  /** A client mistake on an endpoint's form re-renders its page with the message; a 404 goes to the error page. */
  const onEndpointPage = (handler: (req: Request, res: Response) => Promise<void>): RequestHandler => async (req, res) => {
    try {
      await handler(req, res);
    } catch (err) {
      if (err instanceof AppError && err.kind === 'not_found') throw err;
      const refused = formError(req, res, err);
      const values = req.body && Object.hasOwn(req.body as object, 'url') ? formValues(req) : undefined;
      await renderEndpoint(req, res, refused.status, { error: refused.message, ...(values ? { values } : {}) });
    }
  };
  const formValues = (req: Request): FormValues => ({ url: field(req, 'url'), description: field(req, 'description'), events: fieldList(req, 'events') });
  const back = (res: Response, id: string, done: string) => res.redirect(303, `${base}/${id}?done=${done}`);

  router.get(base, ...guard, (req, res) => renderList(req, res, 200));

  router.post(base, ...guard, deps.csrf.protect, ...sensitive, async (req, res) => {
    const values = formValues(req);
    try {
      const created = await createEndpoint(webhooks, scopeOf(req), values);
      renderSecret(res, created.endpoint, created.secret, false);
    } catch (err) {
      const refused = formError(req, res, err);
      await renderList(req, res, refused.status, { error: refused.message, values });
    }
  });

  router.get(`${base}/:id`, ...guard, (req, res) => renderEndpoint(req, res, 200));

  router.post(
    `${base}/:id`,
    ...guard,
    deps.csrf.protect,
    ...sensitive,
    onEndpointPage(async (req, res) => {
      const id = idOf(req);
      await updateEndpoint(webhooks, scopeOf(req), id, formValues(req));
      back(res, id, 'saved');
    }),
  );

  router.post(
    `${base}/:id/enable`,
    ...guard,
    deps.csrf.protect,
    onEndpointPage(async (req, res) => {
      await updateEndpoint(webhooks, scopeOf(req), idOf(req), { enabled: true });
      back(res, idOf(req), 'enabled');
    }),
  );

  router.post(
    `${base}/:id/disable`,
    ...guard,
    deps.csrf.protect,
    onEndpointPage(async (req, res) => {
      await updateEndpoint(webhooks, scopeOf(req), idOf(req), { enabled: false });
      back(res, idOf(req), 'disabled');
    }),
  );

  router.post(`${base}/:id/rotate`, ...guard, deps.csrf.protect, ...sensitive, async (req, res) => {
    const rotated = await rotateSecret(webhooks, scopeOf(req), idOf(req));
    renderSecret(res, rotated.endpoint, rotated.secret, true);
  });

  router.post(
    `${base}/:id/delete`,
    ...guard,
    deps.csrf.protect,
    ...sensitive,
    onEndpointPage(async (req, res) => {
      await getEndpoint(webhooks, scopeOf(req), idOf(req)); // another's endpoint is a 404 before anything else
      if (!checked(req, 'confirm')) throw new BadRequest(messages.confirmDelete, 'bad_request', 'confirm');
      await deleteEndpoint(webhooks, scopeOf(req), idOf(req));
      res.redirect(303, `${base}?done=deleted`);
    }),
  );

  router.post(
    `${base}/:id/test`,
    ...guard,
    deps.csrf.protect,
    onEndpointPage(async (req, res) => {
      await sendTest(webhooks, scopeOf(req), idOf(req));
      back(res, idOf(req), 'tested');
    }),
  );

  router.post(
    `${base}/:id/deliveries/:deliveryId/resend`,
    ...guard,
    deps.csrf.protect,
    onEndpointPage(async (req, res) => {
      await resendDelivery(webhooks, scopeOf(req), idOf(req), String(req.params.deliveryId));
      back(res, idOf(req), 'resent');
    }),
  );

  return router;
}

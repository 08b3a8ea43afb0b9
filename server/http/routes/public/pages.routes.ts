import { callerOf, requestUser } from '../../auth-context.js';
import { Router, type Request, type Response } from 'express';
import { policyFacts } from '../../policy-facts.js';
import type { RouteDeps } from '../../route-deps.js';
import { isDeleteKey } from '../../../lib/ids.js';
import { secretMatchesHash } from '../../../lib/hash.js';
import { embedSnippets } from '../../../lib/snippets.js';
import { imageUrls, secretUrls } from '../../../lib/urls.js';
import { findImage } from '../../../services/images.service.js';
import { allowanceOf } from '../../../services/upload-policy.service.js';
import { takeDeleteKey } from '../../one-time-secret.js';

export function pagesRoutes(deps: Pick<RouteDeps, 'config' | 'repos'>): Router {
  const router = Router();
  const { config } = deps;
  const policy = policyFacts(config);
  const legal = { termsVersion: config.termsVersion, minAge: config.minAge, turnstile: config.turnstile !== null };

  // The privacy pages are rendered from the live configuration (http/policy-facts.ts), never typed by hand.
  const policyPage = (page: 'privacy' | 'retention' | 'subprocessors', title: string) => (_req: Request, res: Response) =>
    res.render('public/policy', { title, page, facts: policy });
  router.get('/privacy', policyPage('privacy', 'Privacy policy'));
  router.get('/retention', policyPage('retention', 'How long data is kept'));
  router.get('/subprocessors', policyPage('subprocessors', 'Third parties that receive data'));
  router.get('/terms', (_req, res) => res.render('public/legal', { title: 'Terms of service', page: 'terms', ...legal }));

  router.get('/', (req, res) => {
    const user = requestUser(req);
    // An account that must confirm its address first sees why and a resend button instead of the drop zone.
    const usage = user ? allowanceOf(user, config) : null;
    res.render('public/home', { title: 'Upload an image', usage });
  });

  // The result page shows the delete link once, straight after the upload; afterwards it shows only the public links.
  router.get('/upload/:id', async (req, res) => {
    const image = await findImage(deps.repos, req.params.id, callerOf(req));
    const key = takeDeleteKey(req, res, image.id);
    const deleteUrl = key !== undefined && isDeleteKey(key) && secretMatchesHash(key, image.deleteKeyHash) ? secretUrls(config.publicUrl, image.id, key).deleteUrl : null;
    res.set({ 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer', 'X-Robots-Tag': 'noindex' });
    const urls = imageUrls(config.publicUrl, image);
    const snippets = embedSnippets({ name: image.originalName || image.id, ...urls, width: image.width, height: image.height });
    const owned = image.ownerId !== null && image.ownerId === requestUser(req)?.id;
    res.render('public/result', { title: 'Uploaded', image, ...urls, snippets, deleteUrl, owned });
  });

  return router;
}

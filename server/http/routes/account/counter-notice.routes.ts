import { counterNoticeInput } from '../../form-fields.js';
import { Router } from 'express';
import { counterableImageIds, fileCounterNotice } from '../../../services/copyright.service.js';
import { isImageId } from '../../../lib/ids.js';
import { NotFound } from '../../../errors.js';
import { wantsJson, formError } from '../../errors.js';
import { field } from '../../form-fields.js';
import { authOf, requireUser } from '../../middleware/require-user.middleware.js';
import type { RouteDeps } from '../../route-deps.js';

/** An uploader answers an upheld copyright notice about one of their images with a counter-notice. */
export function counterNoticeRoutes(deps: Pick<RouteDeps, 'clock' | 'csrf' | 'repos'>): Router {
  const router = Router();
  const page = (imageId: string, extra: object = {}) => ({ title: 'Send a counter-notice', imageId, values: {}, error: null, ...extra });
  // Only the holder's own images with an upheld notice not yet answered; anything else is "not found".
  const ownImage = async (userId: string, id: string) => {
    if (!isImageId(id) || !(await counterableImageIds(deps.repos, userId)).includes(id)) throw new NotFound('There is no copyright decision about an image of yours to answer here.');
    return id;
  };

  router.get('/account/counter-notice/:id', requireUser, async (req, res) => {
    const imageId = await ownImage(authOf(req).user.id, String(req.params.id));
    res.set('Cache-Control', 'private, no-store').render('account/counter-notice', page(imageId));
  });

  router.post('/account/counter-notice/:id', requireUser, deps.csrf.protect, async (req, res) => {
    const user = authOf(req).user;
    const imageId = await ownImage(user.id, String(req.params.id));
    try {
      const counter = await fileCounterNotice(deps.repos, imageId, counterNoticeInput(req), { userId: user.id }, deps.clock());
      if (wantsJson(req)) {
        res.status(201).json({ counterNotice: { id: counter.id, status: counter.status } });
        return;
      }
    } catch (err) {
      const shown = formError(req, res, err);
      const values = { name: field(req, 'name'), contact: field(req, 'contact'), statement: field(req, 'statement'), signature: field(req, 'signature') };
      res.set('Cache-Control', 'private, no-store').render('account/counter-notice', page(imageId, { values, error: shown.message }));
      return;
    }
    res.set('Cache-Control', 'no-store').render('notice', { title: 'Counter-notice sent', message: 'The moderators have your counter-notice and will decide on it. If they accept it, the notice stops counting against your account.', next: { href: '/account/images', label: 'Back to my images' } });
  });

  return router;
}

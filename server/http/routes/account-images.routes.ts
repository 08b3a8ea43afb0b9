import { Router } from 'express';
import type { AccountDeps } from './account-deps.js';

export function accountImagesRoutes(_deps: AccountDeps): Router {
  const router = Router();
  return router;
}

import { Router } from 'express';
import type { AccountDeps } from './account-deps.js';

export function accountSettingsRoutes(_deps: AccountDeps): Router {
  const router = Router();
  return router;
}

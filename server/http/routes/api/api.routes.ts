import { Router } from 'express';
import type { RouteDeps } from '../../route-deps.js';

/** The programmatic surface: /api/v1 (API keys only, never cookies) and its reference at /api/docs. */
export function apiRoutes(_deps: RouteDeps): Router {
  return Router();
}

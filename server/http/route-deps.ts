import type { Container } from '../container.js';
import type { Csrf } from './middleware/csrf.middleware.js';
import type { ServedImageCache } from './serving/image-cache.js';

/**
 * What route groups are built from: the composition root plus the HTTP-only pieces app.ts makes (CSRF). Each group
 * takes a Pick of it naming exactly what it uses, never the whole bag, and never the raw database (only repos).
 */
export type RouteDeps = Omit<Container, 'db'> & {
  csrf: Csrf;
  /** The image rows the fast path serves from; gallery pages prime it with the rows they show (see prime()). */
  servedImages: ServedImageCache;
};

import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const NO_SQL = ['knex', 'pg', 'better-sqlite3'].map((name) => ({ name, message: 'Only server/db/ writes SQL: add a repository function and call it.' }));

/**
 * Files matching `files` may not import from the named sibling layers of server/ (nor from app/container/main),
 * nor a database driver or query builder unless they are in server/db/.
 */
function layer(files, forbidden, why, extraPatterns = []) {
  const patterns = [...extraPatterns];
  if (forbidden.length) patterns.push({ regex: `^(\\.\\./)+(${forbidden.join('|')})/`, message: `Layer rule: ${why}. Import only from lower layers (see README, Layout).` });
  // http/ may name the container's type (route groups take a Pick of it) and CLIs may build one; nothing else below may.
  const wiring = files.startsWith('server/http/') || files.startsWith('server/cli/') ? 'app|main' : 'app|container|main';
  patterns.push({ regex: `^(\\.\\./)+(${wiring})\\.js$`, message: 'Only main.ts wires the app; lower layers take their dependencies as arguments.' });
  // Repositories and connections are built once, by the composition root; services, jobs and http/ are handed them.
  if (/^server\/(services|jobs|http)\//.test(files)) {
    patterns.push({ regex: '(^|/)db/', importNamePattern: '^create', message: 'Repositories are built once, in server/container.ts: take repos from your deps.' });
  }
  return [
    {
      files: [files],
      ignores: ['server/test/**'],
      rules: { 'no-restricted-imports': ['error', { patterns, ...(files.startsWith('server/db/') ? {} : { paths: NO_SQL }) }] },
    },
  ];
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-floating-promises': 'off',
      'no-console': 'error',
    },
  },
  // The layers, enforced: data flows down (http → jobs → services → db/storage → config → lib), never back up.
  // server/errors.ts sits below everything and anyone may import it; only app.ts, container.ts and main.ts wire http/ in.
  ...layer('server/lib/**/*.ts', ['services', 'jobs', 'http', 'cli', 'db', 'storage', 'config'], 'lib/ holds small pure helpers'),
  ...layer('server/config/**/*.ts', ['services', 'jobs', 'http', 'cli', 'db', 'storage'], 'config/ sits below every layer but lib/'),
  ...layer('server/db/**/*.ts', ['services', 'jobs', 'http', 'cli', 'storage'], 'db/ knows no business rules and no HTTP'),
  ...layer('server/storage/**/*.ts', ['services', 'jobs', 'http', 'cli', 'db'], 'storage/ knows no business rules and no HTTP'),
  ...layer('server/services/**/*.ts', ['jobs', 'http', 'cli'], 'services know no HTTP and are called by jobs, not the other way'),
  ...layer('server/jobs/**/*.ts', ['http', 'cli'], 'jobs know no HTTP'),
  ...layer('server/cli/**/*.ts', ['http'], 'CLIs take what they need from the composition root, not from http/'),
  ...layer('server/http/**/*.ts', ['cli'], 'http/ reaches the rest through the services'),
  ...layer('server/http/routes/**/*.ts', ['cli'], 'http/ reaches the rest through the services', [
    { regex: '\\.routes\\.js$', message: 'A route file never imports another: move the shared helper out of routes/ (http/presenters.ts, http/form-fields.ts, …).' },
  ]),
  {
    files: ['public/js/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: { window: 'readonly', document: 'readonly', navigator: 'readonly', URL: 'readonly', FormData: 'readonly', XMLHttpRequest: 'readonly', fetch: 'readonly', URLSearchParams: 'readonly', setTimeout: 'readonly' },
    },
  },
  {
    files: ['server/test/**/*.ts', 'server/bench/**/*.ts'],
    // Tests read JSON bodies of every shape; typing each response would add noise, not safety.
    rules: { '@typescript-eslint/no-unused-expressions': 'off', 'no-console': 'off', '@typescript-eslint/no-explicit-any': 'off' },
  },
);

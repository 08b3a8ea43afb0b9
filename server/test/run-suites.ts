/**
 * Runs the whole mocha suite on SQLite with local storage, on SQLite with S3 storage (a loopback s3rver), and,
 * when TEST_DATABASE_URL names a PostgreSQL server, on PostgreSQL with local storage. Each pass creates its own
 * fresh database (see helpers/test-db.ts) and bucket (helpers/s3.ts), so no state leaks between runs.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';

type Pass = { name: string; env: Record<string, string> };

const passes: Pass[] = [
  { name: 'SQLite', env: { PIXBIN_TEST_DB: 'sqlite', PIXBIN_TEST_STORAGE: 'local' } },
  { name: 'SQLite + S3 storage', env: { PIXBIN_TEST_DB: 'sqlite', PIXBIN_TEST_STORAGE: 's3' } },
];
if (process.env.TEST_DATABASE_URL) passes.push({ name: 'PostgreSQL', env: { PIXBIN_TEST_DB: 'postgres', PIXBIN_TEST_STORAGE: 'local' } });
else console.warn('TEST_DATABASE_URL is not set: the PostgreSQL pass is skipped (CI always sets it).');

const mocha = path.join(process.cwd(), 'node_modules', 'mocha', 'bin', 'mocha.js');
const extraArgs = process.argv.slice(2);

function run(pass: Pass): Promise<number> {
  console.log(`\n=== Pixbin test suite on ${pass.name} ===`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [mocha, 'server/test/**/*.test.ts', ...extraArgs], {
      stdio: 'inherit',
      env: { ...process.env, ...pass.env },
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

const failed: string[] = [];
for (const pass of passes) {
  if ((await run(pass)) !== 0) failed.push(pass.name);
}
if (failed.length) {
  console.error(`\nFailed on: ${failed.join(', ')}`);
  process.exit(1);
}
console.log(`\nAll passes green: ${passes.map((p) => p.name).join(', ')}`);

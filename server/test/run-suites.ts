/**
 * Runs the whole mocha suite once on SQLite and, when TEST_DATABASE_URL names a PostgreSQL server, once more on
 * PostgreSQL. Each pass creates its own fresh database (see helpers/test-db.ts), so no state leaks between runs.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';

type Pass = { name: string; env: Record<string, string> };

const passes: Pass[] = [{ name: 'SQLite', env: { PIXBIN_TEST_DB: 'sqlite' } }];
if (process.env.TEST_DATABASE_URL) passes.push({ name: 'PostgreSQL', env: { PIXBIN_TEST_DB: 'postgres' } });
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

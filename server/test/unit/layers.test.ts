import { expect } from 'chai';
import { ESLint } from 'eslint';

/** The layer rules live in eslint.config.js; these prove `npm run lint` fails on an import that runs back up. */
describe('layers are enforced by lint', function () {
  this.timeout(60_000);
  const eslint = new ESLint({ cwd: process.cwd() });
  const restricted = async (filePath: string, importLine: string): Promise<string[]> => {
    const [result] = await eslint.lintText(`${importLine}\nexport const used = x;\n`, { filePath });
    return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
  };

  const wrong: Array<[string, string]> = [
    ['server/services/example.service.ts', "import { x } from '../http/errors.js';"],
    ['server/services/example.service.ts', "import { x } from '../jobs/sweep-orphans.job.js';"],
    ['server/jobs/example.job.ts', "import { x } from '../http/presenters.js';"],
    ['server/db/example.repo.ts', "import { x } from '../services/upload.service.js';"],
    ['server/db/example.repo.ts', "import type { x } from '../http/auth-context.js';"],
    ['server/storage/example.ts', "import { x } from '../db/repos.js';"],
    ['server/lib/example.ts', "import { x } from '../config/config.js';"],
    ['server/config/example.ts', "import { x } from '../storage/storage.js';"],
    ['server/cli/example.ts', "import { x } from '../http/errors.js';"],
    ['server/services/example.service.ts', "import { x } from '../app.js';"],
    ['server/http/routes/admin/example.routes.ts', "import { x } from '../public/auth.routes.js';"],
    ['server/http/routes/public/example.routes.ts', "import { x } from './pages.routes.js';"],
    ['server/services/example.service.ts', "import type { Knex } from 'knex';"],
    ['server/jobs/example.job.ts', "import knex from 'knex';"],
    ['server/http/routes/public/example.routes.ts', "import pg from 'pg';"],
    ['server/http/routes/public/example.routes.ts', "import { createRepos } from '../../../db/repos.js';"],
    ['server/services/example.service.ts', "import { createImagesRepo } from '../db/images.repo.js';"],
    ['server/jobs/example.job.ts', "import { createDb } from '../db/knex.js';"],
  ];
  for (const [file, line] of wrong) {
    it(`refuses ${line} in ${file}`, async () => {
      expect(await restricted(file, line)).to.have.length(1);
    });
  }

  const right: Array<[string, string]> = [
    ['server/services/example.service.ts', "import { x } from '../errors.js';"],
    ['server/services/example.service.ts', "import { x } from '../db/repos.js';"],
    ['server/jobs/example.job.ts', "import { x } from '../services/recovery.service.js';"],
    ['server/http/routes/admin/example.routes.ts', "import { x } from '../../../services/moderation.service.js';"],
    ['server/db/example.repo.ts', "import { x } from '../lib/ids.js';"],
    ['server/db/example.repo.ts', "import type { Knex } from 'knex';"],
    ['server/services/example.service.ts', "import { isUniqueViolation } from '../db/knex.js';"],
    ['server/http/routes/public/example.routes.ts', "import type { ImageRecord } from '../../../db/images.repo.js';"],
    ['server/cli/example.ts', "import { createRepos } from '../db/repos.js';"],
  ];
  for (const [file, line] of right) {
    it(`allows ${line} in ${file}`, async () => {
      expect(await restricted(file, line)).to.deep.equal([]);
    });
  }
});

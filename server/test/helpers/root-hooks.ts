import { closeTestS3, openTestS3 } from './s3.js';
import { openTestDatabase, resetState, testDatabase } from './test-db.js';

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(60_000);
    await openTestDatabase();
    await openTestS3();
  },
  async beforeEach() {
    await resetState();
  },
  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    await testDatabase().dispose();
    await closeTestS3();
  },
};

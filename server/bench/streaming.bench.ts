import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Bench } from './bench-helpers.js';

/** streaming-child.ts in a fresh process: its RSS-over-baseline figures must not carry the other benches' memory. */
function run(): Promise<void> {
  // --no-warnings: the AWS SDK's notice about future Node versions would otherwise split the table.
  const child = spawn(process.execPath, ['--no-warnings', '--import', 'tsx', path.join(import.meta.dirname, 'streaming-child.ts')], { stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`streaming-child.ts exited with ${code}`))));
  });
}

export const streamingBench: Bench = { name: 'streaming', title: 'Streaming uploads, downloads, hashing and S3 (in one process)', run };

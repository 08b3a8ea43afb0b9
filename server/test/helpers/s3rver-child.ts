// s3rver in a process of its own, so a fault drill can freeze it (SIGSTOP) or kill it (SIGKILL) like a real store:
//   tsx server/test/helpers/s3rver-child.ts <port> <directory> <bucket>
// Prints its endpoint once it listens and the bucket exists (a restart on the same folder finds the bucket there).
import { startS3Server } from './s3.js';

const [port, directory, bucket] = process.argv.slice(2);
if (!port || !directory || !bucket) throw new Error('usage: s3rver-child.ts <port> <directory> <bucket>');
const server = await startS3Server({ port: Number(port), directory });
await server.createBucket(bucket).catch((err: unknown) => {
  const name = (err as { name?: string }).name;
  if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
});
process.stdout.write(`${server.endpoint}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));

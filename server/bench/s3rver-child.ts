// A loopback s3rver in its own process, so the bench's memory figures are Pixbin's alone.
import { startS3Server } from '../test/helpers/s3.js';

const server = await startS3Server();
await server.createBucket('bench');
process.stdout.write(`${server.endpoint}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));

/**
 * A file receiver in its own process, run with a small heap
 * (--max-old-space-size=256) so that a decoder which builds what a hostile
 * peer declares crashes it instead of passing a test.
 *
 *   node --max-old-space-size=256 --import tsx control-flood-receiver.ts <port> <server fingerprint> <dir>
 *
 * Waits in receiveFile() and prints, as JSON on stdout, the code it failed
 * with and the heap it used; exits with status 0.
 */

import v8 from 'node:v8';
import { isNetcryptError } from '../../src/errors.ts';
import { receiveFile } from '../../src/files/index.ts';
import { generateIdentity } from '../../src/keys/identity.ts';
import { connect } from '../../src/protocol/connect.ts';

const [port, pin, dir] = process.argv.slice(2) as [string, string, string];

const channel = await connect({ port: Number(port), pin, identity: await generateIdentity({ modulusLength: 2048 }), backend: 'native' });
const code = await receiveFile(channel, { dir }).then(
  () => 'received',
  (error: unknown) => (isNetcryptError(error) ? error.code : String(error)),
);
const heapUsedBytes = v8.getHeapStatistics().used_heap_size;
process.stdout.write(`${JSON.stringify({ code, heapUsedBytes, maxRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`);
process.exit(0);

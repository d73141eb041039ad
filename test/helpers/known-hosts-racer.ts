/**
 * One side of the cross-process known-hosts race: opens the file, says
 * "ready", waits for "go" on stdin, then records its fingerprint for each of
 * `count` peers and prints one result per peer as JSON lines.
 * Usage: node --import tsx known-hosts-racer.ts <file> <fingerprint> <count>
 */

import { once } from 'node:events';
import { isNetcryptError } from '../../src/errors.ts';
import { KnownHosts } from '../../src/keys/known-hosts.ts';

const [path, fingerprint, count] = process.argv.slice(2) as [string, string, string];
const store = await KnownHosts.open(path);
process.stdout.write('ready\n');
await once(process.stdin, 'data');
for (let i = 0; i < Number(count); i++) {
  const peer = `host-${i}:443`;
  const result = await store.verify(peer, fingerprint).catch((error: unknown) => (isNetcryptError(error) ? error.code : String(error)));
  process.stdout.write(`${JSON.stringify({ peer, result })}\n`);
}
process.stdin.destroy();

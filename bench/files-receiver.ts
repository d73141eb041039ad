/**
 * Receiving process of bench/files.ts: listens on loopback, receives one
 * file into the given folder, and prints its measurements as JSON.
 *
 *   node --import tsx bench/files-receiver.ts <backend> <folder>
 *
 * The first stdout line is { port, fingerprint } for the sender.
 */

import type { AddressInfo } from 'node:net';
import { receiveFile } from '../src/files/index.ts';
import { generateIdentity } from '../src/keys/identity.ts';
import { createServer } from '../src/protocol/server.ts';

const [backend, dir] = process.argv.slice(2) as [string, string];
const identity = await generateIdentity({ modulusLength: 2048 });

const server = createServer({ identity, backend: backend as 'native' }, async (channel) => {
  server.stopListening(); // one transfer per process: accept no other client, keep this channel
  const cpu = process.cpuUsage();
  const file = await receiveFile(channel, { dir });
  const used = process.cpuUsage(cpu);
  await channel.close();
  process.stdout.write(
    `${JSON.stringify({ cpuSeconds: (used.user + used.system) / 1e6, maxRssKiB: process.resourceUsage().maxRSS, sha256: file.sha256 })}\n`,
  );
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port, fingerprint: identity.fingerprint })}\n`);
});

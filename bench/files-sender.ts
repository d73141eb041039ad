/**
 * Sending process of bench/files.ts: connects, sends one file, and prints
 * its measurements as JSON.
 *
 *   node --import tsx bench/files-sender.ts <backend> <port> <fingerprint> <file>
 */

import { sendFile } from '../src/files/index.ts';
import { generateIdentity } from '../src/keys/identity.ts';
import { connect } from '../src/protocol/connect.ts';

const [backend, port, fingerprint, path] = process.argv.slice(2) as [string, string, string, string];
const identity = await generateIdentity({ modulusLength: 2048 });
const channel = await connect({ port: Number(port), identity, pin: fingerprint, backend: backend as 'native' });

const cpu = process.cpuUsage();
const started = performance.now();
const file = await sendFile(channel, path);
const seconds = (performance.now() - started) / 1000;
const used = process.cpuUsage(cpu);
await channel.close();
process.stdout.write(
  `${JSON.stringify({ seconds, cpuSeconds: (used.user + used.system) / 1e6, maxRssKiB: process.resourceUsage().maxRSS, sha256: file.sha256 })}\n`,
);

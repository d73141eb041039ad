/**
 * Run as its own process by server-lifecycle.test.ts: one member of a
 * broadcast room. Connects to the port in argv[2] and prints "ready"; then
 * checks that the numbered messages arrive in order without a gap, printing
 * "got <count>" after every argv[3] of them. When the server closes the room
 * it answers with its own close and prints "done" and what it received as
 * JSON: { count, inOrder, sha256, closedCleanly }.
 */

import { createHash } from 'node:crypto';
import { generateIdentity } from '../../src/keys/identity.ts';
import { connect } from '../../src/protocol/connect.ts';

const reportEvery = Number(process.argv[3]);
const identity = await generateIdentity({ modulusLength: 2048 });
const channel = await connect({ port: Number(process.argv[2]), identity, trust: 'any' });
process.stdout.write('ready\n');
let count = 0;
let inOrder = true;
const hash = createHash('sha256');
for await (const message of channel) {
  if (message.readUInt32BE(0) !== count) inOrder = false;
  hash.update(message);
  count++;
  if (count % reportEvery === 0) process.stdout.write(`got ${count}\n`);
}
await channel.close();
process.stdout.write(`done ${JSON.stringify({ count, inOrder, sha256: hash.digest('hex'), closedCleanly: channel.closedCleanly })}\n`);

/**
 * Run as its own process by server-lifecycle.test.ts: a server that closes
 * when a client asks it to, and then never calls process.exit(). The
 * process ends only if close() left no socket, timer or other handle
 * behind. Prints its port, then "closed" once close() resolved.
 */

import { createServer } from '../../src/protocol/server.ts';
import { testIdentities } from './identities.ts';
import { listen } from './net.ts';

const [serverId] = await testIdentities();
// A handshake left running would hold the process for this long: close() must drop it instead.
const server = createServer({ identity: serverId, handshakeTimeoutMs: 600_000, handshakeRate: false }, async (channel) => {
  for await (const message of channel) {
    if (message.toString() === 'shutdown') {
      void server.close({ graceMs: Number(process.argv[2]) }).then(() => process.stdout.write(`closed ${server.channels.size}\n`));
    }
  }
  await channel.close();
});
process.stdout.write(`${await listen(server)}\n`);

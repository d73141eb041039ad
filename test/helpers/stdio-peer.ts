/**
 * Run as its own process by transport-stdio.test.ts: a netcrypt client whose
 * transport is this process's stdin and stdout, joined into one Duplex. It
 * echoes every message back until the peer's authenticated close, answers
 * with its own, and exits 0 only if the channel closed cleanly.
 *
 *   stdio-peer.ts <server fingerprint>
 */

import { Duplex } from 'node:stream';
import { secureSocket } from '../../src/protocol/connect.ts';
import { testIdentities } from './identities.ts';

const [fingerprint] = process.argv.slice(2) as [string];
const [, clientId] = await testIdentities();

const transport = Duplex.from({ readable: process.stdin, writable: process.stdout });
const channel = await secureSocket(transport, 'client', { identity: clientId, pin: fingerprint, backend: 'native' });
for await (const message of channel) await channel.send(Buffer.concat([Buffer.from('echo: '), message]));
await channel.close();
process.exitCode = channel.closedCleanly ? 0 : 3;

/**
 * Run as its own process by client-reconnect.test.ts: a client dialing a
 * port where nothing listens is closed while it waits to redial (a delay of
 * a minute). The process must then exit on its own, with no timer or
 * socket left; it prints what is still active, and what the client reported.
 *
 *   node --import tsx client-close-exit.ts <port> <fingerprint>
 */

import { createClient } from '../../src/protocol/client.ts';
import { testIdentities } from './identities.ts';

const [port, pin] = process.argv.slice(2) as [string, string];
const [, , identity] = await testIdentities();
const client = createClient({ port: Number(port), pin, identity, reconnect: { initialDelayMs: 60_000, maxDelayMs: 60_000, jitter: false } });
let closeEvents = 0;
client.on('close', () => closeEvents++);
const waiting = client.send('never sent').catch((error: { code?: string }) => error.code);
await new Promise((resolve) => client.once('reconnecting', resolve));
await client.close();
const sendCode = await waiting;
// Two turns of the event loop: the refused dial's socket handle finishes closing in the first one's close phase.
await new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
// Left for the event loop: only what this process itself opened (stdout), nothing of the client's.
const resources = process.getActiveResourcesInfo();
process.stdout.write(JSON.stringify({ resources, sendCode, closeEvents }));

#!/usr/bin/env node
/**
 * The netcrypt command line. `netcrypt demo` is the main job on a built-in
 * default: a server and a client on loopback exchange keys, a message, a
 * large payload and a file, and print fingerprints and speeds.
 */

import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { type BackendChoice, loadBackend } from './backend/index.ts';
import type { Channel } from './protocol/channel.ts';
import { ErrorCode, NetcryptError, invalidArgument } from './errors.ts';
import type { PeerIdentity } from './handshake/handshake.ts';
import { openWith, sealTo } from './envelope/sealed-message.ts';
import {
  type ModulusLength,
  fingerprint,
  fingerprintsEqual,
  generateIdentity,
  isFingerprint,
  isModulusLength,
  loadIdentity,
  saveIdentity,
} from './keys/identity.ts';
import { KnownClients } from './keys/known-clients.ts';
import { connect } from './protocol/connect.ts';
import { createServer } from './protocol/server.ts';
import { createOnionServer } from './protocol/onion-server.ts';
import { registerPipeCommands } from './cli/pipe.ts';
import { registerSendCommand } from './cli/send.ts';
import { registerReceiveCommand } from './cli/receive.ts';
import { registerBenchCommand } from './cli/bench.ts';
import { exitCodeFor, exitOnUsageError, failureLine } from './cli/exit-codes.ts';
import { packageVersion } from './cli/version.ts';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

function keySize(value: string): ModulusLength {
  const n = Number(value);
  if (!isModulusLength(n)) throw new InvalidArgumentError('expected 2048, 3072 or 4096');
  return n;
}

const FILE_REQUEST = Buffer.from('file please');

function rate(bytes: number, ms: number): string {
  return `${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s`;
}

async function demo(options: { backend: BackendChoice; keySize: ModulusLength; payloadMib: number; fileMib: number }): Promise<void> {
  const backend = await loadBackend(options.backend);
  console.log(`netcrypt demo — backend ${backend.name}${options.backend === 'auto' ? ' (auto)' : ''}, RSA-${options.keySize}`);
  console.log('  (server and client share this one process, so each speed below is both ends on one core; see npm run bench)');
  let started = performance.now();
  const [serverIdentity, clientIdentity] = await Promise.all([
    generateIdentity({ modulusLength: options.keySize }),
    generateIdentity({ modulusLength: options.keySize }),
  ]);
  console.log(`  generated two RSA-${options.keySize} identities in ${(performance.now() - started).toFixed(0)} ms (off the event loop)`);

  const work = await mkdtemp(join(tmpdir(), 'netcrypt-demo-'));
  const inbox = join(work, 'inbox');
  await mkdir(inbox);
  const server = createServer({ identity: serverIdentity, backend }, async (channel) => {
    try {
      for await (const message of channel) {
        if (message.equals(FILE_REQUEST)) await channel.receiveFile({ dir: inbox });
        await channel.send(Buffer.from(`received ${message.length} bytes`));
      }
      await channel.close();
    } catch (error) {
      console.error('  server:', (error as Error).message);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  try {
    started = performance.now();
    const channel = await connect({ port, identity: clientIdentity, backend, pin: serverIdentity.fingerprint });
    console.log(`  handshake in ${(performance.now() - started).toFixed(1)} ms; server pinned and verified`);
    console.log(`  client key  ${channel.localFingerprint}`);
    console.log(`  server key  ${channel.peerFingerprint}`);

    await channel.send('Thanks for having me');
    console.log(`  message     "Thanks for having me" → server says "${await channel.receive()}"`);

    const payload = randomBytes(options.payloadMib << 20);
    started = performance.now();
    await channel.send(payload);
    const reply = await channel.receive();
    console.log(`  payload     ${options.payloadMib} MiB in one message → ${reply} — ${rate(payload.length, performance.now() - started)}`);

    const source = join(work, 'demo.bin');
    await writeFile(source, randomBytes(options.fileMib << 20));
    await channel.send(FILE_REQUEST);
    started = performance.now();
    const sent = await channel.sendFile(source);
    await channel.receive();
    const ms = performance.now() - started;
    const received = createHash('sha256').update(await readFile(join(inbox, 'demo.bin'))).digest('hex');
    console.log(`  file        demo.bin, ${options.fileMib} MiB → ${inbox} — ${rate(sent.size, ms)}, SHA-256 ${received === sent.sha256 ? 'verified' : 'MISMATCH'}`);
    await channel.close();
    console.log('  closed with an authenticated close on both sides');
  } finally {
    await server.close();
    await rm(work, { recursive: true, force: true });
  }
}

interface ServeOptions {
  key?: string;
  host: string;
  port: number;
  pin?: string[];
  knownClients?: string;
  onion?: boolean;
  controlPort: number;
}

async function serve(options: ServeOptions): Promise<void> {
  for (const pin of options.pin ?? []) {
    if (!isFingerprint(pin)) throw invalidArgument(`--pin ${JSON.stringify(pin)} is not a SHA256:… fingerprint`);
  }
  const knownClients = options.knownClients === undefined ? undefined : await KnownClients.open(options.knownClients);
  const identity = options.key === undefined ? await generateIdentity() : await loadIdentity(options.key);
  console.log(`server key ${identity.fingerprint}`);
  if (options.key === undefined) {
    console.log(
      '  WARNING: no --key, so this key is new at every start and every client that pinned it will refuse the next one.\n' +
        '  Keep one: netcrypt keygen server.key, then netcrypt serve --key server.key',
    );
  }
  const verifyPeer = clientCheck(options.pin ?? [], knownClients);
  if (verifyPeer === undefined) console.log('  any client key is served: pass --pin or --known-clients to serve only the clients you expect');

  const echo = async (channel: Channel) => {
    console.log(`  client ${channel.peerFingerprint} connected`);
    for await (const message of channel) await channel.send(message);
    await channel.close();
  };
  const onChannelError = (error: unknown) => console.error(`  client left: ${(error as Error).message}`);
  const onHandshakeError = (error: NetcryptError) => console.error(`  a connection failed its handshake: ${error.message} (${error.code})`);
  const serverOptions = { identity, verifyPeer, onChannelError, onHandshakeError };
  if (options.onion) {
    const onion = await createOnionServer({ ...serverOptions, onion: { controlPort: options.controlPort, virtualPort: options.port } }, echo);
    console.log(`listening at ${onion.address}:${onion.virtualPort} (connect({ host, port, tor: true, pin }))`);
    process.once('SIGINT', () => void onion.close().then(() => process.exit(0)));
    return;
  }
  const server = createServer(serverOptions, echo);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (cause: NodeJS.ErrnoException) =>
      reject(new NetcryptError(ErrorCode.LISTEN, `cannot listen on ${options.host}:${options.port}: ${cause.code ?? cause.message}`, { cause })),
    );
    server.listen(options.port, options.host, () => resolve());
  });
  const loopbackOnly = /^(127\.|::1$|localhost$)/.test(options.host);
  console.log(`listening on ${options.host}:${options.port}${loopbackOnly ? ' (this machine only; --host 0.0.0.0 to accept others)' : ''}`);
  // Every client is told with an authenticated close, not cut; a second signal ends the process at once.
  const stop = () => {
    console.log(`closing: ${server.channels.size} client(s) get an authenticated close`);
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** A client is served if its key is pinned or listed in the known-clients file; undefined when neither was given. */
function clientCheck(pins: readonly string[], knownClients: KnownClients | undefined) {
  if (pins.length === 0 && knownClients === undefined) return undefined;
  return async (peer: PeerIdentity) => {
    if (pins.some((pin) => fingerprintsEqual(pin, peer.fingerprint))) return;
    if (knownClients !== undefined && (await knownClients.allows(peer.fingerprint))) return;
    throw new NetcryptError(ErrorCode.PEER_KEY_MISMATCH, `client key ${peer.fingerprint} is not pinned${knownClients ? ` nor listed in ${knownClients.path}` : ''}`);
  };
}

/** Reads a file the user named; a missing or unreadable one is ERR_FILE_IO, not a raw system error. */
async function readInput(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (cause) {
    throw new NetcryptError(ErrorCode.FILE_IO, `cannot read ${path}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`, { cause });
  }
}

const program = new Command('netcrypt').description('Encrypted sockets made simple').showHelpAfterError();
program.version(packageVersion()).exitOverride(exitOnUsageError);

program
  .command('demo')
  .description('run a local server and client: keys, a message, a large payload and a file')
  .option('--backend <name>', 'native, wasm, pure or auto', 'auto')
  .option('--key-size <bits>', 'RSA key size: 2048, 3072 or 4096', keySize, 3072 as ModulusLength)
  .option('--payload-mib <n>', 'size of the large message', positiveInt, 64)
  .option('--file-mib <n>', 'size of the file sent', positiveInt, 64)
  .action(demo);

program
  .command('serve')
  .description('run an echo server; --onion publishes it as a Tor onion service')
  .option('--key <private-key>', 'server identity (netcrypt keygen); without one the key is new at every start')
  .option('--host <address>', 'address to listen on (0.0.0.0 or :: for every interface)', '127.0.0.1')
  .option('--port <n>', 'port to listen on, or the onion virtual port', positiveInt, 4000)
  .option('--pin <fingerprint>', 'serve only the client with this key (SHA256:…); repeatable', collect)
  .option('--known-clients <file>', 'serve only clients whose fingerprint is listed in <file>, one per line (read again when it changes)')
  .option('--onion', "publish through Tor's control port instead of listening on the network")
  .option('--control-port <n>', "Tor's control port", positiveInt, 9051)
  .action(serve);

program
  .command('keygen')
  .description('write a new identity: <path> (private, 0600) and <path>.pub')
  .argument('<path>')
  .option('--key-size <bits>', 'RSA key size: 2048, 3072 or 4096', keySize, 3072 as ModulusLength)
  .action(async (path: string, options: { keySize: ModulusLength }) => {
    const identity = await generateIdentity({ modulusLength: options.keySize });
    await saveIdentity(identity, path);
    console.log(identity.fingerprint);
  });

program
  .command('fingerprint')
  .description("print a key's SHA256 fingerprint")
  .argument('<key-file>', 'a public or private key PEM')
  .action(async (file: string) => {
    const pem = (await readInput(file)).toString('utf8');
    console.log(pem.includes('PRIVATE KEY') ? (await loadIdentity(file)).fingerprint : fingerprint(pem));
  });

program
  .command('encrypt')
  .description('seal a file to a public key (offline envelope) and write it to stdout')
  .requiredOption('--to <public-key>', "recipient's public key PEM")
  .argument('<file>')
  .action(async (file: string, options: { to: string }) => {
    process.stdout.write(await sealTo((await readInput(options.to)).toString('utf8'), await readInput(file)));
  });

program
  .command('decrypt')
  .description('open an envelope with a private key and write the data to stdout')
  .requiredOption('--key <private-key>', 'your private key PEM (mode 0600)')
  .argument('<file>')
  .action(async (file: string, options: { key: string }) => {
    const identity = await loadIdentity(options.key);
    process.stdout.write(await openWith(identity.privateKey, await readInput(file)));
  });

registerSendCommand(program);
registerReceiveCommand(program);
registerPipeCommands(program);
registerBenchCommand(program);

// Every failure is one line with its code, never a stack trace; the exit code says what kind it was.
program.parseAsync().catch((error: unknown) => {
  console.error(failureLine(error));
  process.exitCode = exitCodeFor(error);
});

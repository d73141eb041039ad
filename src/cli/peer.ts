/**
 * Getting one trusted channel to the other machine, whichever side is
 * reachable: dial it (`--to` / `--from` / `connect`), or listen for it
 * (`--listen` / `listen`), directly or as a Tor onion service. The options
 * every networked command shares are declared here once.
 */

import type net from 'node:net';
import { type Command, Option } from 'commander';
import { type Channel, type Identity, type ServerOptions, createOnionServer, createServer, connect } from '../index.ts';
import { type Address, formatAddress, parseAddress, parsePort } from './address.ts';
import { defaultIdentityPath, defaultKnownHostsPath, identityAt } from './identity.ts';
import { invalidUsage } from './exit-codes.ts';
import type { OutputOptions, Reporter } from './report.ts';

export interface NetworkOptions extends OutputOptions {
  key?: string;
  knownHosts?: string;
  pin?: string[];
  tor?: boolean;
  torProxy?: Address;
  onion?: boolean;
  controlPort?: number;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Which ends a command can be: the dialling one (--tor, known hosts), the listening one (--onion), or either. */
export interface Ends {
  dials: boolean;
  listens: boolean;
}

/** Adds the identity, trust, Tor and output options to a command. */
export function networkOptions(command: Command, { dials, listens }: Ends): Command {
  command
    .option('--key <path>', 'your identity (default ~/.netcrypt/identity, made on first use)')
    .option('--pin <fingerprint>', 'accept only the peer with this key (SHA256:…); repeatable', collect);
  if (dials) {
    command
      .option('--known-hosts <path>', 'keys of peers dialled before, checked unless --pin (default ~/.netcrypt/known_hosts)')
      .option('--tor', 'dial through Tor (SOCKS5 at 127.0.0.1:9050); .onion addresses work')
      .option('--tor-proxy <host:port>', "Tor's SOCKS port, if not 127.0.0.1:9050 (Tor Browser's is 9150); implies --tor", parseAddress);
  }
  if (listens) {
    command
      .option('--onion', "listen as a Tor onion service and print its address (needs Tor's control port)")
      .addOption(new Option('--control-port <n>', "Tor's control port, for --onion").argParser(parsePort).default(9051));
  }
  return command.option('--json', 'one JSON object per event instead of text').option('-q, --quiet', 'print nothing but errors');
}

/** --tor is for dialling and --onion for listening: each with the other end is a mistake worth saying. */
export function checkTorOptions(dialling: boolean, options: NetworkOptions): void {
  if (dialling && options.onion) throw invalidUsage('--onion publishes a listening side: use it with --listen');
  if (!dialling && (options.tor || options.torProxy)) throw invalidUsage('--tor dials through Tor: use it with --to / --from (the listening side takes --onion)');
}

export async function loadIdentityFor(options: NetworkOptions, report: Reporter): Promise<Identity> {
  const identity = await identityAt(options.key ?? defaultIdentityPath(), (path) => {
    report.say(`creating your identity in ${path} (once)…`);
    report.event('identity-created', { path });
  });
  report.say(`your key     ${identity.fingerprint}`);
  report.event('identity', { fingerprint: identity.fingerprint });
  return identity;
}

/** Dials `address`. The peer's key must match `--pin`, or else the known-hosts entry for host:port (recorded on first contact). */
export function dialPeer(address: Address, identity: Identity, options: NetworkOptions, report: Reporter): Promise<Channel> {
  const tor = options.torProxy ? { proxy: options.torProxy } : options.tor;
  report.say(`connecting to ${formatAddress(address)}${tor ? ' through Tor' : ''}…`);
  const trust = options.pin?.length ? { pin: options.pin } : { knownHosts: options.knownHosts ?? defaultKnownHostsPath() };
  return connect({ ...address, identity, ...trust, tor });
}

export interface Listener {
  /** Stops taking connections (and removes the onion service); the channels already handed over go on. */
  stopListening(): Promise<void>;
}

/**
 * Listens on `port` (or as an onion service on that virtual port) and hands
 * each channel that passed the trust options to `onChannel`. Without
 * `--pin` any key may connect: the command decides what to let it do.
 */
export async function listenForPeers(
  port: number,
  identity: Identity,
  options: NetworkOptions,
  report: Reporter,
  onChannel: (channel: Channel) => void,
): Promise<Listener> {
  const serverOptions: ServerOptions = {
    identity,
    pin: options.pin?.length ? options.pin : undefined,
    onHandshakeError: (error) => {
      report.say(`a connection failed its handshake: ${error.message} (${error.code})`);
      report.event('handshake-failed', { code: error.code, message: error.message });
    },
  };
  if (options.onion) {
    const onion = await createOnionServer({ ...serverOptions, onion: { controlPort: options.controlPort, virtualPort: port || 4000 } }, onChannel);
    report.say(`listening at ${onion.address}:${onion.virtualPort} (the peer dials it with --tor)`);
    report.event('listening', { host: onion.address, port: onion.virtualPort, onion: true });
    return { stopListening: () => onion.stopListening() };
  }
  const server = createServer(serverOptions, onChannel);
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, () => resolve()));
  const bound = (server.address() as net.AddressInfo).port;
  report.say(`listening on port ${bound}`);
  report.event('listening', { port: bound });
  return { stopListening: async () => server.stopListening() };
}

/** Listens until the first trusted channel arrives, then stops listening; later arrivals are turned away. */
export async function acceptOne(port: number, identity: Identity, options: NetworkOptions, report: Reporter): Promise<Channel> {
  let first: Channel | undefined;
  let arrived!: (channel: Channel) => void;
  const accepted = new Promise<Channel>((resolve) => (arrived = resolve));
  const listener = await listenForPeers(port, identity, options, report, (channel) => {
    if (first) return channel.destroy();
    first = channel;
    arrived(channel);
  });
  const channel = await accepted;
  // Not awaited: removing an onion service takes a round trip to Tor, and the channel is ready now.
  void listener.stopListening();
  return channel;
}

/** Both fingerprints and the code to compare, once the handshake is done. */
export function reportPeer(channel: Channel, report: Reporter): void {
  report.say(`peer's key   ${channel.peerFingerprint}`);
  report.say(`code         ${channel.verificationCode}  (the same on both ends if no one is in the middle)`);
  report.event('peer', { fingerprint: channel.peerFingerprint, localFingerprint: channel.localFingerprint, code: channel.verificationCode });
}

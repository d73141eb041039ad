/**
 * Real daemons for the Tor tests: Debian's microsocks (a SOCKS5 server) and
 * tor, each on free loopback ports, each stopped by the test that started it.
 * A missing binary fails the test with the package to install; it is never
 * a reason to skip.
 */

import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { access, constants, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const MICROSOCKS = '/usr/bin/microsocks';
const TOR = '/usr/sbin/tor';

export interface Daemon {
  stop(): Promise<void>;
}

export interface Microsocks extends Daemon {
  port: number;
}

export interface TorDaemon extends Daemon {
  controlPort: number;
  /** Set only when started with `socks: true`. */
  socksPort: number | undefined;
  cookieFile: string;
  password: string;
}

/**
 * Runs a daemon under a shell guard holding the read end of a pipe from this
 * process: the pipe closes however this process ends — normally, on a failed
 * test, or killed outright — and the guard then stops the daemon and removes
 * its scratch directory, so no test run leaves anything behind. The guard
 * exits with the daemon, so an early crash is seen at once. The guard's own
 * stderr goes nowhere: a "Terminated" notice written to the closed pipe would
 * kill it before it cleans up.
 */
const GUARD = `
exec 3<&0 4>&2 2>/dev/null
"$@" </dev/null 2>&4 3<&- 4>&- &
daemon=$!
{ read -r _ <&3 || :; kill "$daemon" 2>/dev/null; } &
watcher=$!
exec 3<&-
wait "$daemon"
status=$?
kill "$watcher" 2>/dev/null
if [ -n "$SCRATCH" ]; then rm -rf -- "$SCRATCH"; fi
exit "$status"
`;

/** A loopback port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

export async function startMicrosocks(credentials?: { username: string; password: string }): Promise<Microsocks> {
  await requireBinary(MICROSOCKS, 'microsocks');
  const port = await freePort();
  const args = ['-i', '127.0.0.1', '-p', String(port)];
  if (credentials) args.push('-u', credentials.username, '-P', credentials.password);
  const daemon = spawnDaemon(MICROSOCKS, args);
  await daemon.waitForPort(port);
  return { port, stop: daemon.stop };
}

/**
 * Starts tor with its own DataDirectory and a ControlPort accepting the cookie
 * (SAFECOOKIE, COOKIE) and a password. Without `socks`, `DisableNetwork 1`
 * keeps it off the network, but that also closes every SocksPort; with
 * `socks`, tor gets a SocksPort (with ExtendedErrors) and a single bridge on a
 * closed loopback port as its only way out, so it still never reaches the
 * real network. With `nullAuth`, the ControlPort asks for no authentication.
 */
export async function startTor(options: { socks?: boolean; nullAuth?: boolean } = {}): Promise<TorDaemon> {
  await requireBinary(TOR, 'tor');
  const directory = await mkdtemp(path.join(os.tmpdir(), 'netcrypt-tor-'));
  try {
    const dataDirectory = path.join(directory, 'data');
    await mkdir(dataDirectory, { mode: 0o700 });
    const password = 'netcrypt test password';
    const { stdout } = await promisify(execFile)(TOR, ['--quiet', '--hash-password', password]);
    const controlPort = await freePort();
    const socksPort = options.socks ? await freePort() : undefined;
    const cookieFile = path.join(dataDirectory, 'control_auth_cookie');
    const torrc = [
      `DataDirectory ${dataDirectory}`,
      `ControlPort 127.0.0.1:${controlPort}`,
      // nullAuth: a control port that asks for nothing, as a careless (or hostile) setup has.
      ...(options.nullAuth ? [] : ['CookieAuthentication 1', `CookieAuthFile ${cookieFile}`, `HashedControlPassword ${stdout.trim()}`]),
      'Log notice stdout',
      ...(socksPort === undefined
        ? ['DisableNetwork 1', 'SocksPort 0']
        : [`SocksPort 127.0.0.1:${socksPort} ExtendedErrors`, 'UseBridges 1', `Bridge 127.0.0.1:${await freePort()}`]),
    ];
    const torrcFile = path.join(directory, 'torrc');
    await writeFile(torrcFile, `${torrc.join('\n')}\n`);

    const daemon = spawnDaemon(TOR, ['-f', torrcFile, '--defaults-torrc', '/dev/null'], directory);
    await daemon.waitForPort(controlPort);
    if (socksPort !== undefined) await daemon.waitForPort(socksPort);
    return { controlPort, socksPort, cookieFile, password, stop: daemon.stop };
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
}

async function requireBinary(file: string, debianPackage: string): Promise<void> {
  try {
    await access(file, constants.X_OK);
  } catch {
    throw new Error(`${file} is missing: install the Debian package "${debianPackage}" (apt-get install ${debianPackage}); these tests need the real daemon`);
  }
}

function spawnDaemon(file: string, args: string[], scratch = '') {
  const child = spawn('/bin/sh', ['-c', GUARD, 'netcrypt-test-guard', file, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, SCRATCH: scratch },
  });
  let output = '';
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-16_384);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', (error) => collect(Buffer.from(`spawn failed: ${error.message}\n`)));

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.stdin.end();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    })());

  const waitForPort = async (port: number): Promise<void> => {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) break;
      if (await accepts(port)) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await stop();
    throw new Error(`${path.basename(file)} did not start listening on 127.0.0.1:${port}:\n${output}`);
  };

  return { stop, waitForPort };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * bench:channel's other process: starting bench/channel-peer.ts in one of
 * its modes and talking to it over its stdin and stdout, and the work
 * folder it reads its certificates and keys from.
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface Peer {
  port: number;
  child: ChildProcess;
  /** Sends a stdin command (`mark`, `cpu`) and returns the peer's answer line. */
  ask: (command: string) => Promise<string>;
}

/** `arg` is the peer's backend (netcrypt modes) or record suite (bare). */
export async function startPeer(work: string, mode: string, arg = 'native'): Promise<Peer> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./channel-peer.ts', import.meta.url)), mode, arg, work], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const ask = async (command: string) => {
    if (command) child.stdin!.write(`${command}\n`);
    const { value, done } = await lines.next();
    if (done) throw new Error(`the ${mode} peer exited`);
    return value as string;
  };
  const port = Number(await ask(''));
  return { port, child, ask };
}

/** This process's CPU time so far, in milliseconds. */
export function cpuMs(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
}

/**
 * A temporary folder with RSA-2048 certificates for the TLS anchors (the
 * server's, and a client's for mutual authentication); the peers read them
 * from it, and bare-loop keys are written beside them.
 */
export function prepareWork(): { work: string; clientCertificate: { key: Buffer; cert: Buffer } } {
  const work = mkdtempSync(join(tmpdir(), 'netcrypt-bench-'));
  for (const side of ['server', 'client']) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(work, `${side}-key.pem`), '-out', join(work, `${side}-cert.pem`), '-days', '1', '-subj', `/CN=${side}`], {
      stdio: 'ignore',
    });
  }
  return { work, clientCertificate: { key: readFileSync(join(work, 'client-key.pem')), cert: readFileSync(join(work, 'client-cert.pem')) } };
}

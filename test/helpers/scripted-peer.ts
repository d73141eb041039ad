/**
 * A peer written against docs/PROTOCOL.md from the sans-I/O handshake, over a
 * real loopback socket: it completes an honest handshake, then sends whatever
 * records (or raw frames) a test scripts — the way a hostile implementation
 * would. It seals records itself, so it can break rules the library's own
 * sealer will not (oversized plaintexts, wrong sequence numbers).
 */

import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { loadBackend } from '../../src/backend/index.ts';
import type { Backend } from '../../src/backend/types.ts';
import { Handshake } from '../../src/handshake/handshake.ts';
import type { Identity } from '../../src/keys/identity.ts';
import { FrameDecoder, encodeFrame } from '../../src/wire/frames.ts';
import type { Role } from '../../src/wire/handshake-messages.ts';
import type { KeyUpdatePolicy, RecordOpener, SuiteName } from '../../src/wire/records.ts';

/** Seals one record under this side's key: the next sequence number unless one is given. */
export type SealRecord = (type: number, plaintext: Uint8Array, sequence?: number) => Buffer;

export interface ScriptedPeer {
  socket: net.Socket;
  opener: RecordOpener;
  record: SealRecord;
  /** Frames received after the handshake, in order (records still sealed). */
  frames: Buffer[];
  closed: Promise<void>;
}

export interface ScriptOptions {
  /** What to write in place of this side's FINISHED frame (default: just it). */
  finished?: (finishedFrame: Buffer, record: SealRecord) => Buffer[];
  /** The only suite this peer offers (default a256cbc-hs512). */
  suite?: SuiteName;
  keyUpdate?: KeyUpdatePolicy | false;
}

function aad(sequence: number, type: number): Buffer {
  const out = Buffer.alloc(9);
  out.writeBigUInt64BE(BigInt(sequence));
  out[8] = type;
  return out;
}

/** Runs an honest handshake as `role` on a connected socket, with the FINISHED step scriptable. */
export async function handshakeOn(socket: net.Socket, role: Role, identity: Identity, options: ScriptOptions = {}): Promise<ScriptedPeer> {
  const backend = await loadBackend('native');
  const suite = options.suite ?? 'a256cbc-hs512';
  let sendKey: Uint8Array | undefined;
  /** a256gcm: FINISHED is sequence 0, so its nonce is the direction's IV. */
  let sendIv: Buffer | undefined;
  // The first record the handshake seals is FINISHED, under this side's key: keep that key.
  const spy = new Proxy(backend, {
    get(target, property) {
      if (property === 'sealPieces' || property === 'gcmSealPieces') {
        return (key: Uint8Array, nonce: Uint8Array, ...rest: [Uint8Array, Uint8Array]) => {
          sendKey ??= Buffer.from(key);
          sendIv ??= Buffer.from(nonce);
          return property === 'sealPieces' ? target.sealPieces(key, nonce, ...rest) : target.gcmSealPieces(key, nonce, ...rest);
        };
      }
      const value = Reflect.get(target, property) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as Backend;
  let nextSequence = 1;
  const record: SealRecord = (type, plaintext, sequence = nextSequence++) => {
    if (suite === 'a256gcm') {
      const nonce = Buffer.from(sendIv!);
      nonce.writeBigUInt64BE(nonce.readBigUInt64BE(4) ^ BigInt(sequence), 4);
      return encodeFrame(Buffer.concat([Buffer.from([type]), backend.gcmSeal(sendKey!, nonce, aad(sequence, type), plaintext)]));
    }
    const iv = randomBytes(16);
    const body = Buffer.concat([Buffer.from([type]), iv, backend.seal(sendKey!, iv, aad(sequence, type), plaintext)]);
    return encodeFrame(body);
  };
  const handshake = new Handshake({ role, identity, backend: spy, suites: [suite], keyUpdate: options.keyUpdate });
  const decoder = new FrameDecoder(1 << 20);
  const frames: Buffer[] = [];
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {});
  const write = (out: Uint8Array[]) => {
    if (out.length === 0) return;
    if (handshake.state === 'await-finished' || (handshake.state === 'done' && !finishedWritten)) {
      finishedWritten = true;
      const finished = Buffer.concat(out);
      for (const frame of options.finished ? options.finished(finished, record) : [finished]) socket.write(frame);
      return;
    }
    for (const piece of out) socket.write(piece);
  };
  let finishedWritten = false;
  const done = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk);
      try {
        for (let frame = decoder.next(); frame; frame = decoder.next()) {
          if (handshake.state === 'done') {
            frames.push(frame);
            continue;
          }
          write(handshake.receive(frame));
          if (handshake.state === 'await-trust') {
            write(handshake.acceptPeer());
            write(handshake.receiveQueued());
          }
          if ((handshake.state as string) === 'done') resolve();
        }
      } catch (error) {
        reject(error);
      }
    });
    socket.once('close', () => reject(new Error('closed during the scripted handshake')));
  });
  write(handshake.start());
  await done;
  return { socket, opener: handshake.session!.opener, frames, closed, record };
}

/** Dials `port` and runs the handshake as a client. */
export async function scriptedClient(port: number, identity: Identity, options?: ScriptOptions): Promise<ScriptedPeer> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return handshakeOn(socket, 'client', identity, options);
}

/** A BATCH plaintext holding `messages`, each behind its u32 length. */
export function batchPlaintext(...messages: Uint8Array[]): Buffer {
  return Buffer.concat(
    messages.flatMap((m) => {
      const length = Buffer.alloc(4);
      length.writeUInt32BE(m.length);
      return [length, Buffer.from(m)];
    }),
  );
}

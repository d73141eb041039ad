/**
 * An independent netcrypt/1 peer, written from docs/PROTOCOL.md alone (nothing under src/ is
 * read or imported), to prove the spec is enough for a second implementation. Top to bottom:
 * canonical MessagePack, frames, hello/key/alert messages, the handshake key schedule,
 * A256CBC-HS512 records, BATCH/FRAGMENT/FINAL messages on lanes 0-3, PING/PONG, CLOSE and ALERT,
 * and the lane-3 request messages (§3.1).
 */

import crypto, { type KeyObject } from 'node:crypto';
import type net from 'node:net';

/** A failure this peer detected, named with the spec's error code. */
export class PeerError extends Error {
  constructor(readonly code: string, message: string) {
    super(`${code}: ${message}`);
  }
}

// ---- Canonical MessagePack (PROTOCOL.md §2, "Canonical form") ----

/** A decoded map keeps its keys in wire order. */
export type MsgValue = string | number | bigint | Buffer | MsgValue[] | MsgMap;
export class MsgMap {
  constructor(readonly entries: [string, MsgValue][]) {}
  get(key: string): MsgValue | undefined {
    return this.entries.find(([k]) => k === key)?.[1];
  }
}

function header(small: number, smallMax: number, codes: number[], length: number): Buffer {
  if (length <= smallMax && small >= 0) return Buffer.from([small + length]);
  const widths = codes.length === 3 ? [1, 2, 4] : [2, 4];
  for (let i = 0; i < codes.length; i += 1) {
    const width = widths[i]!;
    if (length < 2 ** (8 * width)) {
      const out = Buffer.alloc(1 + width);
      out[0] = codes[i]!;
      out.writeUIntBE(length, 1, width);
      return out;
    }
  }
  throw new RangeError('too long');
}

export function encode(value: MsgValue | Record<string, MsgValue>): Buffer {
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([header(0xa0, 31, [0xd9, 0xda, 0xdb], bytes.length), bytes]);
  }
  if (typeof value === 'number' || typeof value === 'bigint') return encodeInteger(BigInt(value));
  if (Buffer.isBuffer(value)) return Buffer.concat([header(-1, -1, [0xc4, 0xc5, 0xc6], value.length), value]);
  if (Array.isArray(value)) return Buffer.concat([header(0x90, 15, [0xdc, 0xdd], value.length), ...value.map(encode)]);
  const entries = value instanceof MsgMap ? value.entries : Object.entries(value);
  return Buffer.concat([header(0x80, 15, [0xde, 0xdf], entries.length), ...entries.flatMap(([k, v]) => [encode(k), encode(v)])]);
}

function encodeInteger(n: bigint): Buffer {
  if (n >= 0n && n <= 0x7fn) return Buffer.from([Number(n)]);
  if (n < 0n && n >= -32n) return Buffer.from([Number(n) & 0xff]);
  const forms: [number, number, boolean][] = n >= 0n
    ? [[0xcc, 1, false], [0xcd, 2, false], [0xce, 4, false], [0xcf, 8, false]]
    : [[0xd0, 1, true], [0xd1, 2, true], [0xd2, 4, true], [0xd3, 8, true]];
  for (const [code, width, signed] of forms) {
    const bits = BigInt(8 * width);
    const fits = signed ? n >= -(1n << (bits - 1n)) : n < 1n << bits;
    if (fits) {
      const out = Buffer.alloc(1 + width);
      out[0] = code;
      const raw = BigInt.asUintN(Number(bits), n);
      for (let i = 0; i < width; i += 1) out[1 + i] = Number((raw >> BigInt(8 * (width - 1 - i))) & 0xffn);
      return out;
    }
  }
  throw new RangeError('integer out of range');
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes one value strictly, then demands that re-encoding gives the same bytes (canonical). */
export function decodeCanonical(bytes: Buffer): MsgValue {
  let at = 0;
  const take = (n: number): Buffer => {
    if (n > bytes.length - at) throw new PeerError('ERR_PROTOCOL', 'MessagePack value runs past its frame');
    const out = bytes.subarray(at, at + n);
    at += n;
    return out;
  };
  const uint = (width: number): number => take(width).readUIntBE(0, width);
  const str = (n: number): string => {
    try {
      return strictUtf8.decode(take(n));
    } catch {
      throw new PeerError('ERR_PROTOCOL', 'invalid UTF-8');
    }
  };
  const list = (n: number, depth: number): MsgValue[] => Array.from({ length: n }, () => value(depth + 1));
  const map = (n: number, depth: number): MsgMap => {
    const entries: [string, MsgValue][] = [];
    for (let i = 0; i < n; i += 1) {
      const key = value(depth + 1);
      if (typeof key !== 'string' || entries.some(([k]) => k === key)) throw new PeerError('ERR_PROTOCOL', 'bad map key');
      entries.push([key, value(depth + 1)]);
    }
    return new MsgMap(entries);
  };
  const value = (depth: number): MsgValue => {
    if (depth > 4) throw new PeerError('ERR_PROTOCOL', 'nested too deep');
    const b = take(1)[0]!;
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    if (b >= 0xa0 && b <= 0xbf) return str(b - 0xa0);
    if (b >= 0x90 && b <= 0x9f) return list(b - 0x90, depth);
    if (b >= 0x80 && b <= 0x8f) return map(b - 0x80, depth);
    switch (b) {
      case 0xcc: return uint(1);
      case 0xcd: return uint(2);
      case 0xce: return uint(4);
      case 0xcf: return take(8).readBigUInt64BE(0);
      case 0xd0: return take(1).readInt8(0);
      case 0xd1: return take(2).readInt16BE(0);
      case 0xd2: return take(4).readInt32BE(0);
      case 0xd3: return take(8).readBigInt64BE(0);
      case 0xd9: return str(uint(1));
      case 0xda: return str(uint(2));
      case 0xdb: return str(uint(4));
      case 0xc4: return Buffer.from(take(uint(1)));
      case 0xc5: return Buffer.from(take(uint(2)));
      case 0xc6: return Buffer.from(take(uint(4)));
      case 0xdc: return list(uint(2), depth);
      case 0xdd: return list(uint(4), depth);
      case 0xde: return map(uint(2), depth);
      case 0xdf: return map(uint(4), depth);
      default: throw new PeerError('ERR_PROTOCOL', `MessagePack type 0x${b.toString(16)} not allowed`);
    }
  };
  const result = value(0);
  if (at !== bytes.length) throw new PeerError('ERR_PROTOCOL', 'bytes after the MessagePack value');
  if (!encode(result).equals(bytes)) throw new PeerError('ERR_PROTOCOL', 'not canonical MessagePack');
  return result;
}

// ---- Frames (§1) ----

export const HANDSHAKE_FRAME_LIMIT = 4096;

export function frame(payload: Buffer): Buffer {
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(payload.length);
  return Buffer.concat([prefix, payload]);
}

/** Reads length-prefixed frames off a socket, checking each length before buffering its payload. */
export class FrameReader {
  private buffered: Buffer[] = [];
  private size = 0;
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered.push(chunk);
      this.size += chunk.length;
      this.wake?.();
    });
    socket.on('end', () => { this.ended = true; this.wake?.(); });
    socket.on('close', () => { this.ended = true; this.wake?.(); });
    socket.on('error', (error) => { this.failure = error; this.wake?.(); });
  }

  private peek(n: number): Buffer | undefined {
    if (this.size < n) return undefined;
    const all = Buffer.concat(this.buffered);
    this.buffered = [all];
    return all.subarray(0, n);
  }

  private consume(n: number): Buffer {
    const all = Buffer.concat(this.buffered);
    this.buffered = [all.subarray(n)];
    this.size -= n;
    return Buffer.from(all.subarray(0, n));
  }

  /** The next frame's payload; ERR_TRUNCATED when TCP ends between or inside frames. */
  async next(limit: number): Promise<Buffer> {
    for (;;) {
      const prefix = this.peek(4);
      if (prefix) {
        const length = prefix.readUInt32BE(0);
        if (length > limit) throw new PeerError('ERR_FRAME_TOO_LARGE', `frame of ${length} bytes over ${limit}`);
        if (this.size >= 4 + length) return this.consume(4 + length).subarray(4);
      }
      if (this.failure || this.ended) throw new PeerError('ERR_TRUNCATED', 'the connection ended without CLOSE');
      await new Promise<void>((resolve) => { this.wake = resolve; });
      this.wake = undefined;
    }
  }
}

// ---- Hello, key and alert messages (§2, §3 Alerts) ----

export type Role = 'client' | 'server';
/** What a peer from before negotiation lists; the default here. */
export const FEATURES = ['a256cbc-hs512', 'x25519', 'rsa-oaep-sha256', 'lanes'];
/** What a peer that offers both suites and key updates lists. */
export const FEATURES_ALL = ['a256cbc-hs512', 'x25519', 'rsa-oaep-sha256', 'lanes', 'a256gcm', 'key-update'];
const REQUIRED_FEATURES = ['x25519', 'rsa-oaep-sha256', 'lanes'];

export interface Hello {
  role: Role;
  features: string[];
  rsa: Buffer;
  x25519: Buffer;
  nonce: Buffer;
}

export function encodeHello(hello: Hello): Buffer {
  return encode({ t: 'hello', p: 'netcrypt', v: 1, role: hello.role, features: hello.features, rsa: hello.rsa, x25519: hello.x25519, nonce: hello.nonce });
}

const ALERT_PREFIX = Buffer.from('82a174a5616c657274a4636f6465', 'hex');
const ALERT_CODE = /^ERR_[A-Z0-9_]{1,27}$/;

export function encodeAlertFrame(code: string): Buffer {
  return Buffer.concat([ALERT_PREFIX, Buffer.from([0xa0 + code.length]), Buffer.from(code, 'ascii')]);
}

/** The code of an alert frame, undefined for a frame that is not one, ERR_PROTOCOL for a malformed one. */
export function alertFrameCode(payload: Buffer): string | undefined {
  if (payload.length < 14 || !payload.subarray(0, 14).equals(ALERT_PREFIX)) return undefined;
  const code = payload.subarray(15).toString('latin1');
  if (payload.length < 15 || payload[14] !== 0xa0 + code.length || !ALERT_CODE.test(code)) throw new PeerError('ERR_PROTOCOL', 'malformed alert frame');
  return code;
}

function parseHello(payload: Buffer): Hello {
  const value = decodeCanonical(payload);
  if (!(value instanceof MsgMap)) throw new PeerError('ERR_PROTOCOL', 'hello is not a map');
  const [t, p, v] = value.entries;
  if (t?.[0] !== 't' || t[1] !== 'hello' || p?.[0] !== 'p' || p[1] !== 'netcrypt') throw new PeerError('ERR_PROTOCOL', 'not a netcrypt peer');
  if (v?.[0] !== 'v' || v[1] !== 1) throw new PeerError('ERR_VERSION', `version ${String(v?.[1])}, not 1`);
  const keys = value.entries.map(([k]) => k).join(',');
  if (keys !== 't,p,v,role,features,rsa,x25519,nonce') throw new PeerError('ERR_PROTOCOL', `hello fields ${keys}`);
  const role = value.get('role');
  const features = value.get('features');
  const rsa = value.get('rsa');
  const x25519 = value.get('x25519');
  const nonce = value.get('nonce');
  if (role !== 'client' && role !== 'server') throw new PeerError('ERR_PROTOCOL', 'bad role');
  if (!Array.isArray(features) || features.length < 1 || features.length > 16 || !features.every((f) => typeof f === 'string' && Buffer.byteLength(f) <= 64)) throw new PeerError('ERR_PROTOCOL', 'bad features');
  if (!Buffer.isBuffer(rsa) || rsa.length < 1 || rsa.length > 1024) throw new PeerError('ERR_PROTOCOL', 'bad rsa');
  if (!Buffer.isBuffer(x25519) || x25519.length !== 32 || !Buffer.isBuffer(nonce) || nonce.length !== 32) throw new PeerError('ERR_PROTOCOL', 'bad x25519 or nonce');
  for (const needed of REQUIRED_FEATURES) if (!features.includes(needed)) throw new PeerError('ERR_VERSION', `peer lacks ${needed}`);
  return { role, features: features as string[], rsa, x25519, nonce };
}

export function rsaPublicKey(der: Buffer): KeyObject {
  let key: KeyObject;
  try {
    key = crypto.createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch {
    throw new PeerError('ERR_BAD_KEY', 'not an SPKI key');
  }
  const details = key.asymmetricKeyDetails;
  const ok = key.asymmetricKeyType === 'rsa' && [2048, 3072, 4096].includes(details?.modulusLength ?? 0) && details?.publicExponent === 65537n;
  if (!ok || !key.export({ format: 'der', type: 'spki' }).equals(der)) throw new PeerError('ERR_BAD_KEY', 'not an RSA-2048/3072/4096 key with e = 65537');
  return key;
}

export function fingerprintOf(spkiDer: Buffer): string {
  return `SHA256:${crypto.createHash('sha256').update(spkiDer).digest('base64').replace(/=+$/, '')}`;
}

function keyMessage(wrapped: Buffer): Buffer {
  return encode({ t: 'key', wrapped });
}

function parseKeyMessage(payload: Buffer): Buffer {
  const value = decodeCanonical(payload);
  const wrapped = value instanceof MsgMap ? value.get('wrapped') : undefined;
  if (!(value instanceof MsgMap) || value.entries.map(([k]) => k).join(',') !== 't,wrapped' || value.get('t') !== 'key' || !Buffer.isBuffer(wrapped)) throw new PeerError('ERR_PROTOCOL', 'bad key message');
  if (![256, 384, 512].includes(wrapped.length)) throw new PeerError('ERR_PROTOCOL', 'bad wrapped length');
  return wrapped;
}

// ---- Negotiation (§2) ----

export type Suite = 'a256cbc-hs512' | 'a256gcm';
export const MATERIAL_BYTES: Record<Suite, number> = { 'a256cbc-hs512': 64, a256gcm: 44 };
export const RECORD_FRAME_LIMITS: Record<Suite, number> = { 'a256cbc-hs512': 65_601, a256gcm: 65_553 };

/** From the two hellos alone: key updates if both list them; the first suite of the fixed order both list. */
export function negotiate(own: string[], peer: string[]): { suite: Suite; keyUpdates: boolean } {
  const both = (feature: string): boolean => own.includes(feature) && peer.includes(feature);
  const keyUpdates = both('key-update');
  if (keyUpdates && both('a256gcm')) return { suite: 'a256gcm', keyUpdates };
  if (both('a256cbc-hs512')) return { suite: 'a256cbc-hs512', keyUpdates };
  throw new PeerError('ERR_VERSION', 'no record suite in common');
}

// ---- Key schedule (§2) ----

const sha256 = (...parts: Buffer[]): Buffer => crypto.createHash('sha256').update(Buffer.concat(parts)).digest();
const u32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const withLength = (bytes: Buffer): Buffer => Buffer.concat([u32(bytes.length), bytes]);

export function helloHash(helloClient: Buffer, helloServer: Buffer): Buffer {
  return sha256(Buffer.from('netcrypt/1 hello'), withLength(helloClient), withLength(helloServer));
}

export function transcriptHash(h1: Buffer, keyClient: Buffer, keyServer: Buffer): Buffer {
  return sha256(h1, withLength(keyClient), withLength(keyServer));
}

export function sessionKeys(ikm: Buffer, h: Buffer, suite: Suite): { clientToServer: Buffer; serverToClient: Buffer } {
  const prefix = suite === 'a256gcm' ? 'netcrypt/1 a256gcm ' : 'netcrypt/1 ';
  const derive = (info: string): Buffer => Buffer.from(crypto.hkdfSync('sha256', ikm, h, Buffer.from(prefix + info), MATERIAL_BYTES[suite]));
  return { clientToServer: derive('client->server'), serverToClient: derive('server->client') };
}

export function x25519PrivateKey(raw: Buffer): KeyObject {
  return crypto.createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), raw]), format: 'der', type: 'pkcs8' });
}

export function x25519Public(privateKey: KeyObject): Buffer {
  return crypto.createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).subarray(-32);
}

export function x25519Shared(privateKey: KeyObject, peerRaw: Buffer): Buffer {
  const publicKey = crypto.createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), peerRaw]), format: 'der', type: 'spki' });
  const shared = crypto.diffieHellman({ privateKey, publicKey });
  if (shared.every((b) => b === 0)) throw new PeerError('ERR_AUTH', 'low-order X25519 point');
  return shared;
}

/**
 * RSA-OAEP (RFC 8017 §7.1.1, SHA-256 and MGF1-SHA-256) with a given seed, so the worked
 * example's wrapped secrets can be reproduced; the RSA step itself is node:crypto's.
 */
export function oaepWrap(publicKey: KeyObject, message: Buffer, label: Buffer, seed: Buffer): Buffer {
  const k = (publicKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8;
  const mgf1 = (input: Buffer, length: number): Buffer => {
    const blocks: Buffer[] = [];
    for (let counter = 0; blocks.length * 32 < length; counter += 1) blocks.push(sha256(input, u32(counter)));
    return Buffer.concat(blocks).subarray(0, length);
  };
  const xor = (a: Buffer, b: Buffer): Buffer => Buffer.from(a.map((byte, i) => byte ^ b[i]!));
  const db = Buffer.concat([sha256(label), Buffer.alloc(k - message.length - 2 * 32 - 2), Buffer.from([1]), message]);
  const maskedDb = xor(db, mgf1(seed, k - 32 - 1));
  const maskedSeed = xor(seed, mgf1(maskedDb, 32));
  return crypto.publicEncrypt({ key: publicKey, padding: crypto.constants.RSA_NO_PADDING }, Buffer.concat([Buffer.from([0]), maskedSeed, maskedDb]));
}

// ---- A256CBC-HS512 (RFC 7518 §5.2.2) and records (§3) ----

export function cbcHmacTag(key: Buffer, aad: Buffer, iv: Buffer, ciphertext: Buffer): Buffer {
  const al = Buffer.alloc(8);
  al.writeBigUInt64BE(BigInt(aad.length * 8));
  return crypto.createHmac('sha512', key.subarray(0, 32)).update(Buffer.concat([aad, iv, ciphertext, al])).digest().subarray(0, 32);
}

export function cbcHmacSeal(key: Buffer, iv: Buffer, aad: Buffer, plaintext: Buffer): { ciphertext: Buffer; tag: Buffer } {
  const cipher = crypto.createCipheriv('aes-256-cbc', key.subarray(32, 64), iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { ciphertext, tag: cbcHmacTag(key, aad, iv, ciphertext) };
}

/** Tag first, in constant time; a bad tag and bad padding are both ERR_AUTH. */
export function cbcHmacOpen(key: Buffer, iv: Buffer, aad: Buffer, ciphertext: Buffer, tag: Buffer): Buffer {
  if (ciphertext.length === 0 || ciphertext.length % 16 !== 0 || tag.length !== 32) throw new PeerError('ERR_AUTH', 'record does not authenticate');
  if (!crypto.timingSafeEqual(cbcHmacTag(key, aad, iv, ciphertext), tag)) throw new PeerError('ERR_AUTH', 'record does not authenticate');
  try {
    const decipher = crypto.createDecipheriv('aes-256-cbc', key.subarray(32, 64), iv);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    throw new PeerError('ERR_AUTH', 'record does not authenticate');
  }
}

export const TYPE = { FINISHED: 0x01, CLOSE: 0x02, ALERT: 0x03, KEY_UPDATE: 0x04, PING: 0x05, PONG: 0x06, FRAGMENT: 0x10, FINAL: 0x11, BATCH: 0x20 } as const;
export const PING_BYTES = 8;
export const RECORD_PLAINTEXT_LIMIT = 65_536;
export const BATCH_ENTRY_LIMIT = 16_384;

function recordAad(sequence: bigint, type: number): Buffer {
  const aad = Buffer.alloc(9);
  aad.writeBigUInt64BE(sequence);
  aad[8] = type;
  return aad;
}

/** RFC 5869 §2.3 alone (no extract step), for the key update ratchet. */
export function hkdfExpand(prk: Buffer, info: Buffer, length: number): Buffer {
  const blocks: Buffer[] = [];
  let previous = Buffer.alloc(0);
  for (let i = 1; blocks.length * 32 < length; i += 1) {
    previous = crypto.createHmac('sha256', prk).update(Buffer.concat([previous, info, Buffer.from([i])])).digest();
    blocks.push(previous);
  }
  return Buffer.concat(blocks).subarray(0, length);
}

/** One direction's record protection: the suite, its current key material and sequence number. */
export class RecordKeys {
  sequence = 0n;

  constructor(readonly suite: Suite, public material: Buffer, private readonly freshIv: () => Buffer) {}

  seal(type: number, plaintext: Buffer): Buffer {
    const aad = recordAad(this.sequence, type);
    this.sequence += 1n;
    if (this.suite === 'a256cbc-hs512') {
      const iv = this.freshIv();
      const { ciphertext, tag } = cbcHmacSeal(this.material, iv, aad, plaintext);
      return Buffer.concat([Buffer.from([type]), iv, ciphertext, tag]);
    }
    const cipher = crypto.createCipheriv('aes-256-gcm', this.material.subarray(0, 32), this.gcmNonce(aad), { authTagLength: 16 });
    cipher.setAAD(aad);
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([Buffer.from([type]), ciphertext, cipher.getAuthTag()]);
  }

  open(payload: Buffer): { type: number; plaintext: Buffer } {
    const type = payload[0] ?? 0;
    const aad = recordAad(this.sequence, type);
    let plaintext: Buffer;
    if (this.suite === 'a256cbc-hs512') {
      if (payload.length < 1 + 16 + 16 + 32) throw new PeerError('ERR_AUTH', 'record too short');
      plaintext = cbcHmacOpen(this.material, payload.subarray(1, 17), aad, payload.subarray(17, -32), payload.subarray(-32));
    } else {
      if (payload.length < 1 + 16) throw new PeerError('ERR_AUTH', 'record too short');
      try {
        const decipher = crypto.createDecipheriv('aes-256-gcm', this.material.subarray(0, 32), this.gcmNonce(aad), { authTagLength: 16 });
        decipher.setAAD(aad);
        decipher.setAuthTag(payload.subarray(-16));
        const opened = decipher.update(payload.subarray(1, -16));
        plaintext = Buffer.concat([opened, decipher.final()]); // final() throws on a bad tag: nothing is used before
      } catch {
        throw new PeerError('ERR_AUTH', 'record does not authenticate');
      }
    }
    this.sequence += 1n;
    return { type, plaintext };
  }

  /** nonce = IV XOR (0^4 ‖ sequence), the IV being the material's last 12 bytes. */
  private gcmNonce(aad: Buffer): Buffer {
    const nonce = Buffer.from(this.material.subarray(32, 44));
    for (let i = 0; i < 8; i += 1) nonce[4 + i]! ^= aad[i]!;
    return nonce;
  }

  /** KEY_UPDATE: the next material from the current one; sequence 0 again; the old material wiped. */
  ratchet(): void {
    const next = hkdfExpand(this.material, Buffer.from('netcrypt/1 key update'), MATERIAL_BYTES[this.suite]);
    this.material.fill(0);
    this.material = next;
    this.sequence = 0n;
  }
}

export function batchPlaintext(messages: Buffer[]): Buffer {
  return Buffer.concat(messages.flatMap((m) => [u32(m.length), m]));
}

function batchEntries(plaintext: Buffer): Buffer[] {
  const entries: Buffer[] = [];
  for (let at = 0; at < plaintext.length;) {
    if (plaintext.length - at < 4) throw new PeerError('ERR_PROTOCOL', 'batch entry header cut');
    const length = plaintext.readUInt32BE(at);
    if (length > BATCH_ENTRY_LIMIT || length > plaintext.length - at - 4) throw new PeerError('ERR_PROTOCOL', 'batch entry length');
    entries.push(Buffer.from(plaintext.subarray(at + 4, at + 4 + length)));
    at += 4 + length;
  }
  if (entries.length === 0) throw new PeerError('ERR_PROTOCOL', 'empty batch');
  return entries;
}

// ---- Lane 3: requests (PROTOCOL.md §3.1) ----

export const REQUEST_LANE = 3;
export const REQUEST_KIND = { REQUEST: 0x01, REPLY: 0x02, ERROR: 0x03, CANCEL: 0x04 } as const;
const REQUEST_BODY_LIMIT = 1_048_576;

export type LaneThreeMessage =
  | { kind: 'request' | 'reply'; id: number; body: Buffer }
  | { kind: 'error'; id: number; code: string; message: string }
  | { kind: 'cancel'; id: number };

function laneThreeHeader(kind: number, id: number): Buffer {
  const header = Buffer.alloc(9);
  header[0] = kind;
  header.writeBigUInt64BE(BigInt(id), 1);
  return header;
}

export function encodeLaneThree(message: LaneThreeMessage): Buffer {
  switch (message.kind) {
    case 'request':
      return Buffer.concat([laneThreeHeader(REQUEST_KIND.REQUEST, message.id), message.body]);
    case 'reply':
      return Buffer.concat([laneThreeHeader(REQUEST_KIND.REPLY, message.id), message.body]);
    case 'cancel':
      return laneThreeHeader(REQUEST_KIND.CANCEL, message.id);
    case 'error': {
      const text = Buffer.from(message.message, 'utf8');
      const lengths = Buffer.alloc(2);
      lengths.writeUInt16BE(text.length);
      return Buffer.concat([laneThreeHeader(REQUEST_KIND.ERROR, message.id), Buffer.from([message.code.length]), Buffer.from(message.code, 'ascii'), lengths, text]);
    }
  }
}

const ERROR_CODE = /^[A-Za-z0-9_.-]{1,64}$/;
const REFUSED_IN_TEXT = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

/** Every rule of §3.1's message layout; ids and their order are the caller's to check. */
export function parseLaneThree(bytes: Buffer): LaneThreeMessage {
  if (bytes.length < 9 || bytes.length > 9 + REQUEST_BODY_LIMIT) throw new PeerError('ERR_PROTOCOL', 'lane-3 message length');
  const wide = bytes.readBigUInt64BE(1);
  if (wide === 0n || wide >= 2n ** 53n) throw new PeerError('ERR_PROTOCOL', 'lane-3 id');
  const id = Number(wide);
  const rest = bytes.subarray(9);
  switch (bytes[0]) {
    case REQUEST_KIND.REQUEST:
      return { kind: 'request', id, body: Buffer.from(rest) };
    case REQUEST_KIND.REPLY:
      return { kind: 'reply', id, body: Buffer.from(rest) };
    case REQUEST_KIND.CANCEL:
      if (rest.length !== 0) throw new PeerError('ERR_PROTOCOL', 'CANCEL with content');
      return { kind: 'cancel', id };
    case REQUEST_KIND.ERROR: {
      const codeLength = rest[0] ?? 0;
      if (codeLength < 1 || codeLength > 64 || rest.length < 1 + codeLength + 2) throw new PeerError('ERR_PROTOCOL', 'ERROR code length');
      const code = rest.subarray(1, 1 + codeLength).toString('latin1');
      const textLength = rest.readUInt16BE(1 + codeLength);
      if (!ERROR_CODE.test(code) || textLength > 1024 || rest.length !== 3 + codeLength + textLength) throw new PeerError('ERR_PROTOCOL', 'ERROR layout');
      let message: string;
      try {
        message = strictUtf8.decode(rest.subarray(3 + codeLength));
      } catch {
        throw new PeerError('ERR_PROTOCOL', 'ERROR message not UTF-8');
      }
      if (REFUSED_IN_TEXT.test(message)) throw new PeerError('ERR_PROTOCOL', 'ERROR message character');
      return { kind: 'error', id, code, message };
    }
    default:
      throw new PeerError('ERR_PROTOCOL', 'lane-3 kind');
  }
}

// ---- The peer: handshake, then messages, CLOSE and ALERT ----

export interface PeerOptions {
  role: Role;
  /** This peer's RSA identity. */
  privateKey: KeyObject;
  /** The peer's fingerprint this side trusts; a different key is refused with an ERR_PEER_KEY_MISMATCH alert frame. */
  pin: string;
  features?: readonly string[];
  /** Where each random value comes from (default crypto.randomBytes); the worked example fixes them. */
  random?: (purpose: RandomPurpose, bytes: number) => Buffer;
}

export type RandomPurpose = 'x25519' | 'secret' | 'nonce' | 'oaep-seed' | 'iv';

export type PeerEvent =
  | { kind: 'message'; lane: number; data: Buffer; recordType: number; entries: number }
  | { kind: 'close' }
  | { kind: 'alert'; code: string }
  /** The peer pinged us; we have already answered it. */
  | { kind: 'ping'; data: Buffer }
  /** The answer to our outstanding PING. */
  | { kind: 'pong'; data: Buffer };

export class IndependentPeer {
  private partial: Buffer[][] = [[], [], [], []];
  private pending: PeerEvent[] = [];
  peerClosed = false;
  closeSent = false;
  /** False: PINGs are only reported, for a test to answer them itself (or not). */
  answerPings = true;
  private outstandingPing: Buffer | undefined;

  private constructor(
    readonly socket: net.Socket,
    private readonly reader: FrameReader,
    readonly sender: RecordKeys,
    private readonly receiver: RecordKeys,
    readonly transcript: Buffer,
    readonly peerFingerprint: string,
    readonly negotiated: { suite: Suite; keyUpdates: boolean },
  ) {}

  /**
   * Runs the handshake on a connected socket. A peer's alert frame is thrown as
   * PeerError('ERR_PEER_ALERT') whose message names the peer's code (see alertCode).
   */
  static async handshake(socket: net.Socket, options: PeerOptions): Promise<IndependentPeer> {
    const reader = new FrameReader(socket);
    const random = options.random ?? ((_: RandomPurpose, bytes: number) => crypto.randomBytes(bytes));
    const ephemeral = x25519PrivateKey(random('x25519', 32));
    const secret = random('secret', 32);
    const ownRsa = crypto.createPublicKey(options.privateKey).export({ format: 'der', type: 'spki' });
    const ownFeatures = [...(options.features ?? FEATURES)];
    const ownHello = encodeHello({ role: options.role, features: ownFeatures, rsa: ownRsa, x25519: x25519Public(ephemeral), nonce: random('nonce', 32) });
    socket.write(frame(ownHello));

    const readHandshakeFrame = async (): Promise<Buffer> => {
      const payload = await reader.next(HANDSHAKE_FRAME_LIMIT);
      const code = alertFrameCode(payload);
      if (code !== undefined) throw new PeerAlert(code, false);
      return payload;
    };
    const peerHelloBytes = await readHandshakeFrame();
    const peerHello = parseHello(peerHelloBytes);
    if (peerHello.role === options.role) throw new PeerError('ERR_PROTOCOL', 'both sides claim one role');
    const negotiated = negotiate(ownFeatures, peerHello.features);
    const peerRsa = rsaPublicKey(peerHello.rsa);
    const peerFingerprint = fingerprintOf(peerHello.rsa);
    if (peerFingerprint !== options.pin) {
      await sendAndEnd(socket, frame(encodeAlertFrame('ERR_PEER_KEY_MISMATCH')));
      throw new PeerError('ERR_PEER_KEY_MISMATCH', `peer key ${peerFingerprint}`);
    }

    const isClient = options.role === 'client';
    const h1 = isClient ? helloHash(ownHello, peerHelloBytes) : helloHash(peerHelloBytes, ownHello);
    const ownKey = keyMessage(oaepWrap(peerRsa, secret, h1, random('oaep-seed', 32)));
    socket.write(frame(ownKey));
    const peerKeyBytes = await readHandshakeFrame();
    let peerSecret: Buffer;
    try {
      peerSecret = crypto.privateDecrypt({ key: options.privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: h1 }, parseKeyMessage(peerKeyBytes));
    } catch (error) {
      if (error instanceof PeerError) throw error;
      throw new PeerError('ERR_AUTH', 'the peer\'s secret does not unwrap');
    }
    if (peerSecret.length !== 32) throw new PeerError('ERR_AUTH', 'wrapped secret is not 32 bytes');

    const h = isClient ? transcriptHash(h1, ownKey, peerKeyBytes) : transcriptHash(h1, peerKeyBytes, ownKey);
    const ikm = Buffer.concat([x25519Shared(ephemeral, peerHello.x25519), isClient ? secret : peerSecret, isClient ? peerSecret : secret]);
    const keys = sessionKeys(ikm, h, negotiated.suite);
    const [sendKey, receiveKey] = isClient ? [keys.clientToServer, keys.serverToClient] : [keys.serverToClient, keys.clientToServer];
    const freshIv = (): Buffer => random('iv', 16);
    const receiver = new RecordKeys(negotiated.suite, receiveKey, freshIv);
    const peer = new IndependentPeer(socket, reader, new RecordKeys(negotiated.suite, sendKey, freshIv), receiver, h, peerFingerprint, negotiated);
    peer.sendRecord(TYPE.FINISHED, h);

    const finishedFrame = await readHandshakeFrame();
    const finished = receiver.open(finishedFrame);
    if (finished.type !== TYPE.FINISHED) throw new PeerError('ERR_PROTOCOL', 'first record is not FINISHED');
    if (!crypto.timingSafeEqual(sha256(finished.plaintext), sha256(h)) || finished.plaintext.length !== 32) throw new PeerError('ERR_AUTH', 'FINISHED does not match');
    return peer;
  }

  sendRecord(type: number, plaintext: Buffer): void {
    this.socket.write(frame(this.sender.seal(type, plaintext)));
  }

  /** One message, in its one encoding: a BATCH entry up to 16 KiB, else FRAGMENTs of 64 KiB and a FINAL. */
  send(message: Buffer, lane = 0): void {
    if (message.length <= BATCH_ENTRY_LIMIT) {
      this.sendBatch([message], lane);
      return;
    }
    let at = 0;
    while (message.length - at > RECORD_PLAINTEXT_LIMIT) {
      this.sendRecord(TYPE.FRAGMENT + 2 * lane, message.subarray(at, at + RECORD_PLAINTEXT_LIMIT));
      at += RECORD_PLAINTEXT_LIMIT;
    }
    this.sendRecord(TYPE.FINAL + 2 * lane, message.subarray(at));
  }

  sendBatch(messages: Buffer[], lane = 0): void {
    this.sendRecord(TYPE.BATCH + lane, batchPlaintext(messages));
  }

  /** KEY_UPDATE under the current key, then this side's sending key ratchets. */
  updateKeys(): void {
    if (!this.negotiated.keyUpdates) throw new PeerError('ERR_PROTOCOL', 'key updates were not negotiated');
    this.sendRecord(TYPE.KEY_UPDATE, Buffer.alloc(0));
    this.sender.ratchet();
  }

  close(): void {
    this.sendRecord(TYPE.CLOSE, Buffer.alloc(0));
    this.closeSent = true;
  }

  /** A PING of 8 random bytes; at most one is outstanding. Its PONG comes out of next(). */
  ping(): Buffer {
    if (this.outstandingPing) throw new PeerError('ERR_PROTOCOL', 'a PING is already outstanding');
    const value = crypto.randomBytes(PING_BYTES);
    this.outstandingPing = value;
    this.sendRecord(TYPE.PING, value);
    return value;
  }

  /** An ALERT record, then FIN, as §3 Alerts says a side that gives up does. */
  async alert(code: string): Promise<void> {
    await sendAndEnd(this.socket, frame(this.sender.seal(TYPE.ALERT, Buffer.from(code, 'ascii'))));
  }

  /** The next message, the peer's CLOSE or its ALERT; every rule §3 states is checked. */
  async next(): Promise<PeerEvent> {
    for (;;) {
      const queued = this.pending.shift();
      if (queued) return queued;
      const payload = await this.reader.next(RECORD_FRAME_LIMITS[this.negotiated.suite]);
      if (this.peerClosed) throw new PeerError('ERR_PROTOCOL', 'record after CLOSE');
      const { type, plaintext } = this.receiver.open(payload);
      if (plaintext.length > RECORD_PLAINTEXT_LIMIT) throw new PeerError('ERR_PROTOCOL', 'record plaintext over 64 KiB');
      this.route(type, plaintext);
    }
  }

  private route(type: number, plaintext: Buffer): void {
    if (type === TYPE.KEY_UPDATE) {
      if (!this.negotiated.keyUpdates || plaintext.length !== 0) throw new PeerError('ERR_PROTOCOL', 'KEY_UPDATE not negotiated or with content');
      this.receiver.ratchet();
    } else if (type === TYPE.CLOSE) {
      if (plaintext.length !== 0) throw new PeerError('ERR_PROTOCOL', 'CLOSE with content');
      this.peerClosed = true;
      this.pending.push({ kind: 'close' });
    } else if (type === TYPE.PING) {
      if (plaintext.length !== PING_BYTES) throw new PeerError('ERR_PROTOCOL', 'PING not 8 bytes');
      // Answered at once; nothing follows our CLOSE, a PONG neither.
      if (this.answerPings && !this.closeSent) this.sendRecord(TYPE.PONG, plaintext);
      this.pending.push({ kind: 'ping', data: plaintext });
    } else if (type === TYPE.PONG) {
      if (!this.outstandingPing?.equals(plaintext)) throw new PeerError('ERR_PROTOCOL', 'PONG that answers no PING');
      this.outstandingPing = undefined;
      this.pending.push({ kind: 'pong', data: plaintext });
    } else if (type === TYPE.ALERT) {
      const code = plaintext.toString('latin1');
      if (!ALERT_CODE.test(code)) throw new PeerError('ERR_PROTOCOL', 'malformed ALERT');
      this.pending.push({ kind: 'alert', code });
    } else if (type >= TYPE.BATCH && type <= TYPE.BATCH + 3) {
      const lane = type - TYPE.BATCH;
      if (this.partial[lane]!.length > 0) throw new PeerError('ERR_PROTOCOL', 'BATCH inside a fragmented message');
      const entries = batchEntries(plaintext);
      for (const data of entries) this.pending.push({ kind: 'message', lane, data, recordType: type, entries: entries.length });
    } else if (type >= TYPE.FRAGMENT && type <= TYPE.FINAL + 6) {
      const lane = (type - TYPE.FRAGMENT) >> 1;
      const parts = this.partial[lane]!;
      if ((type & 1) === 0) {
        if (plaintext.length !== RECORD_PLAINTEXT_LIMIT) throw new PeerError('ERR_PROTOCOL', 'FRAGMENT not 64 KiB');
        parts.push(plaintext);
      } else {
        if (plaintext.length === 0) throw new PeerError('ERR_PROTOCOL', 'empty FINAL');
        const data = Buffer.concat([...parts, plaintext]);
        if (data.length <= BATCH_ENTRY_LIMIT) throw new PeerError('ERR_PROTOCOL', 'small message sent as FINAL');
        this.partial[lane] = [];
        this.pending.push({ kind: 'message', lane, data, recordType: type, entries: 1 });
      }
    } else {
      throw new PeerError('ERR_PROTOCOL', `record type 0x${type.toString(16)}`);
    }
  }

  /** After both CLOSE records crossed, both sides end TCP. */
  end(): void {
    this.socket.end();
  }
}

/** A peer's alert: frame (unauthenticated) or record (authenticated). */
export class PeerAlert extends PeerError {
  constructor(readonly peerCode: string, readonly authenticated: boolean) {
    super('ERR_PEER_ALERT', `the peer reported ${peerCode}`);
  }
}

async function sendAndEnd(socket: net.Socket, bytes: Buffer): Promise<void> {
  await new Promise<void>((resolve) => socket.end(bytes, resolve));
}

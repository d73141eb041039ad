/**
 * Long-term RSA identities: generation off the event loop, PEM files with
 * ssh-like permissions, OpenSSH-style fingerprints, and the strict parser for
 * public keys that arrive from peers.
 */

import {
  KeyObject,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { link, lstat, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { parseRsaSpki } from './rsa-spki.ts';
import { ErrorCode, NetcryptError, invalidArgument } from '../errors.ts';

/** An OpenSSH-style key fingerprint: `SHA256:` and 43 characters of unpadded base64. */
export type Fingerprint = `SHA256:${string}`;

/** The RSA sizes netcrypt accepts. The seed offered 1024 (unusable), 2048 and 4096; 3072 is the default (NIST's 128-bit level). */
export type ModulusLength = 2048 | 3072 | 4096;

export interface Identity {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** SubjectPublicKeyInfo DER: what goes on the wire and what the fingerprint hashes. */
  readonly publicKeyDer: Buffer;
  readonly fingerprint: Fingerprint;
  readonly modulusLength: ModulusLength;
}

export const MODULUS_LENGTHS: readonly ModulusLength[] = [2048, 3072, 4096];

export function isModulusLength(value: unknown): value is ModulusLength {
  return (MODULUS_LENGTHS as readonly unknown[]).includes(value);
}
const PUBLIC_EXPONENT = 65537n;

// A 4096-bit SPKI is 550 bytes DER; the limits leave room but stop a peer from making us parse megabytes.
const MAX_PEER_KEY_DER = 1024;
const PUBLIC_EXPONENT_BYTES = Buffer.from([0x01, 0x00, 0x01]);
const MAX_PEER_KEY_PEM = 4096;
// A 4096-bit PKCS#8 PEM is about 3.3 KB.
const MAX_PRIVATE_KEY_PEM = 16 * 1024;

const generateKeyPairAsync = promisify(generateKeyPair);

/** Generates on libuv's thread pool: the seed blocked for 1.2–2 s at 4096 bits. */
export async function generateIdentity({ modulusLength = 3072 }: { modulusLength?: ModulusLength } = {}): Promise<Identity> {
  if (!isModulusLength(modulusLength)) {
    throw invalidArgument(`RSA modulus length must be 2048, 3072 or 4096 bits, not ${modulusLength}`);
  }
  const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength, publicExponent: Number(PUBLIC_EXPONENT) });
  return makeIdentity(privateKey);
}

let shared: Promise<Identity> | undefined;

/**
 * The identity connect() uses when given none: one RSA-3072 key per process,
 * generated once, off the event loop, on first use. Every connection made with
 * it presents the same key, so servers can link them to one another; pass an
 * identity per purpose where that matters.
 */
export function processIdentity(): Promise<Identity> {
  if (shared === undefined) {
    const generating = generateIdentity();
    shared = generating;
    generating.catch(() => {
      if (shared === generating) shared = undefined; // let a later call try again
    });
  }
  return shared;
}

/** Accepts an unencrypted PEM (PKCS#8, as saveIdentity writes, or OpenSSL's older PKCS#1) or a KeyObject. */
export function identityFromPrivateKey(key: string | KeyObject): Identity {
  let privateKey: KeyObject;
  if (typeof key === 'string') {
    if (key.length > MAX_PRIVATE_KEY_PEM) throw badKey('private key PEM is too large');
    try {
      privateKey = createPrivateKey({ key, format: 'pem' });
    } catch (cause) {
      throw badKey('cannot parse private key: expected an unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY")', cause);
    }
  } else {
    privateKey = key;
  }
  if (privateKey.type !== 'private') throw badKey(`expected a private key, got a ${privateKey.type} key`);
  checkRsaKey(privateKey, 'identity key');
  return makeIdentity(privateKey);
}

// O_NONBLOCK: opening a FIFO must not wait for a writer (it would hang and pin a libuv thread).
// O_NOFOLLOW: the file checked is the file named, not where a link points.
const KEY_FILE_FLAGS = fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0) | (fsConstants.O_NOFOLLOW ?? 0);

/**
 * Reads a private key file, refusing one that others can access, as ssh does,
 * and anything that is not a regular file (a FIFO, a device, a symbolic link), without blocking.
 */
export async function loadIdentity(path: string): Promise<Identity> {
  const handle = await open(path, KEY_FILE_FLAGS).catch((cause: unknown) => {
    if ((cause as NodeJS.ErrnoException).code === 'ELOOP') throw badKey(`${path} is a symbolic link; name the key file itself`, cause);
    throw new NetcryptError(ErrorCode.FILE_IO, `cannot open private key file ${path}`, { cause });
  });
  try {
    // fstat on the open descriptor, so the checked file is the one read.
    const stats = await handle.stat();
    if (!stats.isFile()) throw badKey(`${path} is not a regular file`);
    // Windows reports synthetic mode bits; its access control is ACLs, which this check cannot see.
    if (process.platform !== 'win32' && (stats.mode & 0o077) !== 0) {
      const mode = (stats.mode & 0o777).toString(8).padStart(4, '0');
      throw badKey(
        `permissions ${mode} for private key file ${path} are too open: it must not be accessible by others. ` +
          `Run: chmod 600 '${path}'`,
      );
    }
    if (stats.size > MAX_PRIVATE_KEY_PEM) throw badKey(`${path} is too large to be a private key file`);
    return identityFromPrivateKey(await handle.readFile('utf8'));
  } finally {
    await handle.close();
  }
}

/**
 * Loads the identity at `path`, or, if there is no file, generates one and
 * saves it there (0600, and `path.pub`). Two processes starting at once end
 * up with the same key: the one that loses the race to create the file loads
 * the winner's.
 */
export async function loadOrCreateIdentity(path: string, { modulusLength = 3072 }: { modulusLength?: ModulusLength } = {}): Promise<Identity> {
  try {
    return await loadIdentity(path);
  } catch (error) {
    if (!isMissing(error)) throw error;
  }
  const identity = await generateIdentity({ modulusLength });
  try {
    await saveIdentity(identity, path);
    return identity;
  } catch (error) {
    if (error instanceof NetcryptError && error.code === ErrorCode.FILE_EXISTS) return loadIdentity(path);
    throw error;
  }
}

function isMissing(error: unknown): boolean {
  return error instanceof NetcryptError && (error.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/**
 * Writes the private key (PKCS#8 PEM, mode 0600) to `path` and the public key
 * (SPKI PEM, mode 0644) to `path + '.pub'`, each atomically.
 */
export async function saveIdentity(identity: Identity, path: string, { overwrite = false }: { overwrite?: boolean } = {}): Promise<void> {
  const targets: [string, string, number][] = [
    [path, identity.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, 0o600],
    [`${path}.pub`, publicKeyPem(identity.publicKey), 0o644],
  ];
  // Check both before writing either, so a refusal leaves nothing half-written.
  if (!overwrite) {
    for (const [target] of targets) {
      if (await exists(target)) throw fileExists(target);
    }
  }
  for (const [target, pem, mode] of targets) await writeAtomically(target, pem, mode, overwrite);
}

export function publicKeyPem(key: KeyObject): string {
  return toPublicKey(key).export({ format: 'pem', type: 'spki' }) as string;
}

/** `SHA256:` + unpadded base64 of SHA-256 over the SPKI DER, in the style of OpenSSH. */
export function fingerprint(publicKey: KeyObject | string | Uint8Array): Fingerprint {
  // Re-exporting canonicalises the encoding, so every form of one key gives one fingerprint.
  if (publicKey instanceof KeyObject) return fingerprintOfSpki(toPublicKey(publicKey).export({ format: 'der', type: 'spki' }));
  let key: KeyObject;
  try {
    key =
      typeof publicKey === 'string'
        ? createPublicKey(publicKey)
        : createPublicKey({ key: Buffer.from(publicKey), format: 'der', type: 'spki' });
  } catch (cause) {
    throw badKey('cannot parse public key', cause);
  }
  return fingerprintOfSpki(key.export({ format: 'der', type: 'spki' }));
}

/** Base64 of 32 bytes is 43 characters whose last carries 2 zero bits, so only 16 letters can end it. */
const FINGERPRINT_PATTERN = /^SHA256:[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]$/;

export function isFingerprint(value: string): value is Fingerprint {
  return FINGERPRINT_PATTERN.test(value);
}

/** Constant-time, so comparing against a pinned fingerprint reveals nothing about where they differ. */
export function fingerprintsEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Parses a key received from a peer: SPKI DER (or a PEM "PUBLIC KEY" block) holding
 * an rsaEncryption key of 2048, 3072 or 4096 bits with exponent 65537. Anything else
 * is ERR_BAD_KEY; the size is bounded before any parsing.
 */
export function parsePeerPublicKey(input: Uint8Array | string): KeyObject {
  const der = typeof input === 'string' ? pemToDer(input) : Buffer.from(input);
  if (der.length > MAX_PEER_KEY_DER) throw badKey(`peer public key is ${der.length} bytes; at most ${MAX_PEER_KEY_DER} are accepted`);
  // Strict DER: one byte string per key, so fingerprints and transcripts agree (see rsa-spki.ts).
  const { n, e } = parseRsaSpki(der);
  // n has no leading zero byte (minimal DER), so its bit length is read off its first byte.
  const modulusLength = (n.length - 1) * 8 + (32 - Math.clz32(n[0]!));
  if (!isModulusLength(modulusLength)) {
    throw badKey(`peer public key has a ${modulusLength}-bit modulus; 2048, 3072 or 4096 bits are accepted`);
  }
  if (!e.equals(PUBLIC_EXPONENT_BYTES)) throw badKey(`peer public key has public exponent ${BigInt(`0x${e.toString('hex')}`)}; only 65537 is accepted`);
  try {
    return createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') }, format: 'jwk' });
  } catch (cause) {
    throw badKey('peer public key is not a usable RSA key', cause);
  }
}

function pemToDer(pem: string): Buffer {
  if (pem.length > MAX_PEER_KEY_PEM) throw badKey(`peer public key PEM is ${pem.length} characters; at most ${MAX_PEER_KEY_PEM} are accepted`);
  const match = /^-----BEGIN PUBLIC KEY-----\r?\n((?:[A-Za-z0-9+/=]+\r?\n)+)-----END PUBLIC KEY-----$/.exec(pem.trim());
  if (match === null) throw badKey('peer public key PEM must be a single "BEGIN PUBLIC KEY" block');
  return Buffer.from(match[1] as string, 'base64');
}

function checkRsaKey(key: KeyObject, what: string): void {
  // 'rsa' is rsaEncryption; 'rsa-pss' keys are restricted to signing and cannot do OAEP.
  if (key.asymmetricKeyType !== 'rsa') throw badKey(`${what} must be an RSA key, not ${key.asymmetricKeyType ?? 'unknown'}`);
  const { modulusLength, publicExponent } = key.asymmetricKeyDetails ?? {};
  if (!isModulusLength(modulusLength)) {
    throw badKey(`${what} has a ${modulusLength}-bit modulus; 2048, 3072 or 4096 bits are accepted`);
  }
  if (publicExponent !== PUBLIC_EXPONENT) throw badKey(`${what} has public exponent ${publicExponent}; only 65537 is accepted`);
}

function makeIdentity(privateKey: KeyObject): Identity {
  const publicKey = createPublicKey(privateKey);
  const publicKeyDer = publicKey.export({ format: 'der', type: 'spki' });
  return Object.freeze({
    privateKey,
    publicKey,
    publicKeyDer,
    fingerprint: fingerprintOfSpki(publicKeyDer),
    modulusLength: privateKey.asymmetricKeyDetails?.modulusLength as ModulusLength,
  });
}

/** The fingerprint of SPKI DER already known to be canonical (e.g. from parsePeerPublicKey). */
export function fingerprintOfSpki(der: Uint8Array): Fingerprint {
  return `SHA256:${createHash('sha256').update(der).digest('base64').replace(/=+$/, '')}`;
}

function toPublicKey(key: KeyObject): KeyObject {
  if (key.type === 'public') return key;
  if (key.type === 'private') return createPublicKey(key);
  throw badKey('expected an asymmetric key, got a secret key');
}

/**
 * The temporary file is created 0600 in the target's folder, so the key is never
 * readable by others, not even for a moment, and the final rename cannot cross devices.
 */
async function writeAtomically(target: string, data: string, mode: number, overwrite: boolean): Promise<void> {
  const temp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.chmod(mode); // exact mode whatever the umask
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (overwrite) {
      await rename(temp, target);
    } else {
      // rename() would replace a file created since the check; link() fails with EEXIST instead.
      await link(temp, target);
      await rm(temp);
    }
  } catch (cause) {
    await rm(temp, { force: true });
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') throw fileExists(target);
    throw new NetcryptError(ErrorCode.FILE_IO, `cannot write ${target}`, { cause });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path); // lstat: a dangling symlink still occupies the name
    return true;
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new NetcryptError(ErrorCode.FILE_IO, `cannot check ${path}`, { cause });
  }
}

function fileExists(path: string): NetcryptError {
  return new NetcryptError(ErrorCode.FILE_EXISTS, `${path} already exists; pass { overwrite: true } to replace it`);
}

function badKey(message: string, cause?: unknown): NetcryptError {
  return new NetcryptError(ErrorCode.BAD_KEY, message, cause === undefined ? undefined : { cause });
}

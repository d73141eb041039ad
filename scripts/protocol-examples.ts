/**
 * Renders the worked examples of docs/PROTOCOL.md from the code itself:
 * a complete netcrypt/1 session between two fixed RSA keys (Wycheproof's
 * 2048- and 3072-bit test keys) with every random byte drawn from a fixed
 * SHA-256 counter stream. test/protocol-examples.test.ts checks the document
 * matches; `npm run docs:examples` rewrites it.
 */

import { constants, createCipheriv, createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, privateDecrypt } from 'node:crypto';
import { decode } from '@msgpack/msgpack';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadBackend } from '../src/backend/index.ts';
import { Handshake } from '../src/handshake/handshake.ts';
import { identityFromPrivateKey } from '../src/keys/identity.ts';
import { FrameDecoder } from '../src/wire/frames.ts';
import { MessageAssembler, MessageBatch } from '../src/wire/messages.ts';
import { type RandomSource, RecordType, type SuiteName, batchRecordType } from '../src/wire/records.ts';

const DOC = fileURLToPath(new URL('../docs/PROTOCOL.md', import.meta.url));
const BEGIN = '<!-- BEGIN GENERATED EXAMPLES (npm run docs:examples) -->';
const END = '<!-- END GENERATED EXAMPLES -->';

function wycheproofDir(): string {
  return fileURLToPath(new URL('../test/vectors/wycheproof/', import.meta.url));
}

function wycheproofKey(bits: number): string {
  const file = JSON.parse(readFileSync(`${wycheproofDir()}/rsa_oaep_${bits}_sha256_mgf1sha256_test.json`, 'utf8'));
  return file.testGroups[0].privateKeyPem as string;
}

/**
 * Reproducible "randomness" for the examples only (PROTOCOL.md §5): block i
 * of the stream labelled L is SHA-256 of the ASCII string `L/i`, i in decimal
 * from 0; a draw of n bytes takes the next ⌈n/32⌉ blocks and keeps their
 * first n bytes, discarding the rest of the last block.
 */
function fixedRandom(label: string): RandomSource {
  let counter = 0;
  return (length) => {
    const out = Buffer.alloc(length);
    for (let filled = 0; filled < length; filled += 32) {
      createHash('sha256').update(`${label}/${counter++}`).digest().copy(out, filled);
    }
    return out;
  };
}

function hexBlock(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString('hex');
  return (hex.match(/.{1,64}/g) ?? ['']).map((line) => `    ${line}`).join('\n');
}

/** Splits written bytes into frames so each can be shown on its own. */
function frames(chunks: Uint8Array[]): Buffer[] {
  const decoder = new FrameDecoder(0xffffffff);
  for (const chunk of chunks) decoder.push(Buffer.from(chunk));
  const out: Buffer[] = [];
  for (let frame = decoder.next(); frame; frame = decoder.next()) out.push(frame);
  return out;
}

/** The `wrapped` field of a key message (its last field: a bin 16 of the modulus size). */
function wrappedOf(keyMessage: Buffer): Buffer {
  return (decode(keyMessage) as { wrapped: Uint8Array }).wrapped as Buffer;
}

function u32(n: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(n);
  return out;
}

function x25519Key(privateRaw: Buffer) {
  const privateKey = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), privateRaw]), format: 'der', type: 'pkcs8' });
  const publicRaw = Buffer.from(createPublicKey(privateKey).export({ format: 'der', type: 'spki' })).subarray(-32);
  return { privateKey, publicKey: createPublicKey(privateKey), publicRaw };
}

/** A256CBC-HS512 exactly as PROTOCOL.md §3 spells it, with node:crypto's AES-CBC and HMAC: the record payload. */
function sealRecord(key: Buffer, sequence: number, type: number, iv: Buffer, plaintext: Buffer): { payload: Buffer; aad: Buffer } {
  const aad = Buffer.concat([Buffer.alloc(4), u32(sequence), Buffer.from([type])]);
  const cipher = createCipheriv('aes-256-cbc', key.subarray(32), iv);
  const c = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const al = Buffer.alloc(8);
  al.writeBigUInt64BE(BigInt(aad.length * 8));
  const tag = createHmac('sha512', key.subarray(0, 32)).update(Buffer.concat([aad, iv, c, al])).digest().subarray(0, 32);
  return { payload: Buffer.concat([Buffer.from([type]), iv, c, tag]), aad };
}

function same(what: string, a: Uint8Array, b: Uint8Array): void {
  if (!Buffer.from(a).equals(Buffer.from(b))) throw new Error(`worked example: ${what} derived independently differs from the implementation's`);
}

type Show = (title: string, bytes: Uint8Array, note?: string) => void;

/** One whole session in `suite`, both sides offering only it (a256gcm: both suites, as by default). */
async function session(suite: SuiteName, sections: string[]): Promise<void> {
  const backend = await loadBackend('native');
  const suites: SuiteName[] = suite === 'a256gcm' ? ['a256gcm', 'a256cbc-hs512'] : ['a256cbc-hs512'];
  const identity = (bits: number) => identityFromPrivateKey(wycheproofKey(bits));
  const client = new Handshake({ role: 'client', identity: identity(2048), backend, suites, random: fixedRandom(`${suite}/client`) });
  const server = new Handshake({ role: 'server', identity: identity(3072), backend, suites, random: fixedRandom(`${suite}/server`) });
  let step = 0;
  /** Checks the first application record against its independent derivation (a256cbc-hs512). */
  let checkMessage: ((record: Buffer) => void) | undefined;
  const show: Show = (title, bytes, note = '') => sections.push(`**${suite} ${++step}. ${title}** (${bytes.length} bytes${note})\n\n${hexBlock(bytes)}\n`);
  const values = (title: string, rows: [string, Uint8Array][]) => {
    const width = Math.max(...rows.map(([name]) => name.length));
    const lines = rows.flatMap(([name, bytes]) => {
      const hex = Buffer.from(bytes).toString('hex').match(/.{1,64}/g) ?? [''];
      return hex.map((part, i) => `    ${(i === 0 ? name : '').padEnd(width)}  ${part}`);
    });
    sections.push(`**${suite}: ${title}**\n\n${lines.join('\n')}\n`);
  };
  // The same streams again, drawn in the documented order, for the independent derivation below.
  const draws = (side: string) => {
    const random = fixedRandom(`${suite}/${side}`);
    const [x25519, secret, nonce, oaepSeed] = [random(32), random(32), random(32), random(32)].map((b) => Buffer.from(b)) as [Buffer, Buffer, Buffer, Buffer];
    return { x25519, secret, nonce, oaepSeed, iv: () => Buffer.from(random(16)) };
  };
  const c = draws('client');
  const s = draws('server');
  const cx = x25519Key(c.x25519);
  const sx = x25519Key(s.x25519);
  values(`random draws (streams \`${suite}/client\` and \`${suite}/server\`)`, [
    ['client X25519 private', c.x25519],
    ['client X25519 public', cx.publicRaw],
    ['client S_client', c.secret],
    ['client nonce', c.nonce],
    ['client OAEP seed', c.oaepSeed],
    ['server X25519 private', s.x25519],
    ['server X25519 public', sx.publicRaw],
    ['server S_server', s.secret],
    ['server nonce', s.nonce],
    ['server OAEP seed', s.oaepSeed],
  ]);

  const [clientHello] = frames(client.start());
  const [serverHello] = frames(server.start());
  show('client → server: hello frame payload (MessagePack)', clientHello!);
  show('server → client: hello frame payload (MessagePack)', serverHello!);
  server.receive(clientHello!);
  client.receive(serverHello!);
  sections.push(`Fingerprints: client \`${server.peer!.fingerprint}\`, server \`${client.peer!.fingerprint}\`.\n`);
  const [clientKey] = frames(client.acceptPeer());
  const [serverKey] = frames(server.acceptPeer());
  show('client → server: key message (MessagePack; `wrapped` is RSA-OAEP under the server key, label H1)', clientKey!);
  show('server → client: key message', serverKey!);
  const [serverFinished] = frames(server.receive(clientKey!));
  const [clientFinished] = frames(client.receive(serverKey!));
  show('client → server: FINISHED record (type 0x01, sequence 0)', clientFinished!, '; plaintext = H');
  show('server → client: FINISHED record', serverFinished!);
  server.receive(clientFinished!);
  client.receive(serverFinished!);

  // Every intermediate value, derived from the draws and the bytes on the wire with node:crypto alone.
  const h1 = createHash('sha256').update(Buffer.concat([Buffer.from('netcrypt/1 hello'), u32(clientHello!.length), clientHello!, u32(serverHello!.length), serverHello!])).digest();
  const oaep = (bits: number, wrapped: Buffer) =>
    privateDecrypt({ key: wycheproofKey(bits), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: h1 }, wrapped);
  same('S_client', oaep(3072, wrappedOf(clientKey!)), c.secret);
  same('S_server', oaep(2048, wrappedOf(serverKey!)), s.secret);
  same('client X25519 public', cx.publicRaw, (decode(clientHello!) as { x25519: Uint8Array }).x25519);
  const shared = diffieHellman({ privateKey: cx.privateKey, publicKey: sx.publicKey });
  same('X25519 result', shared, diffieHellman({ privateKey: sx.privateKey, publicKey: cx.publicKey }));
  const h = createHash('sha256').update(Buffer.concat([h1, u32(clientKey!.length), clientKey!, u32(serverKey!.length), serverKey!])).digest();
  same('H', client.session!.transcriptHash, h);
  const ikm = Buffer.concat([shared, c.secret, s.secret]);
  const derived: [string, Uint8Array][] = [
    ['H1', h1],
    ['X25519(own, peer)', shared],
    ['IKM', ikm],
    ['H', h],
  ];
  if (suite === 'a256cbc-hs512') {
    // The suite §3 spells out: the keys, and the records re-sealed from them.
    const kcs = Buffer.from(hkdfSync('sha256', ikm, h, 'netcrypt/1 client->server', 64));
    const ksc = Buffer.from(hkdfSync('sha256', ikm, h, 'netcrypt/1 server->client', 64));
    const clientFinishedIv = c.iv();
    const serverFinishedIv = s.iv();
    same('client FINISHED', sealRecord(kcs, 0, RecordType.FINISHED, clientFinishedIv, h).payload, clientFinished!);
    same('server FINISHED', sealRecord(ksc, 0, RecordType.FINISHED, serverFinishedIv, h).payload, serverFinished!);
    const messageIv = c.iv();
    const batch = new MessageBatch(0);
    batch.add(Buffer.from('Thanks for having me'));
    const message = sealRecord(kcs, 1, batchRecordType(0), messageIv, batch.plaintext);
    derived.push(
      ['K_cs MAC_KEY', kcs.subarray(0, 32)],
      ['K_cs ENC_KEY', kcs.subarray(32)],
      ['K_sc MAC_KEY', ksc.subarray(0, 32)],
      ['K_sc ENC_KEY', ksc.subarray(32)],
      ['client FINISHED IV', clientFinishedIv],
      ['server FINISHED IV', serverFinishedIv],
      ['message IV', messageIv],
      ['message AAD', message.aad],
    );
    checkMessage = (record) => same('message record', message.payload, record);
  }
  values('derived values, each computed a second time with node:crypto alone', derived);
  sections.push(`Transcript hash H = \`${client.session!.transcriptHash.toString('hex')}\`; suite \`${client.session!.suite.name}\` on both sides.\n`);

  const { sealer } = client.session!;
  const { opener } = server.session!;
  // A lone message of at most 16 KiB travels as a BATCH of one entry (§3), exactly as SecureChannel.send() writes it.
  const sendText = (title: string, text: string) => {
    const batch = new MessageBatch(0);
    batch.add(Buffer.from(text));
    const [record] = frames(sealer.seal(batchRecordType(0), batch.plaintext));
    checkMessage?.(record!);
    checkMessage = undefined;
    show(title, record!);
    const opened = opener.open(record!);
    const [delivered] = new MessageAssembler(1024).push({ kind: 'batch', lane: 0 }, Buffer.from(opened.plaintext));
    return { opened, delivered: delivered!.toString() };
  };
  const first = sendText('client → server: application message "Thanks for having me" (type 0x20, BATCH on lane 0, one entry; sequence 1)', 'Thanks for having me');
  sections.push(
    `Its plaintext is \`${Buffer.from(first.opened.plaintext).toString('hex')}\` (u32 length 20, then the message); ` +
      `the server opens it (type 0x${first.opened.type.toString(16)}) to \`${first.delivered}\`.\n`,
  );
  const [keyUpdate] = frames(sealer.updateKey());
  show('client → server: KEY_UPDATE record (type 0x04, sequence 2, empty plaintext, under the first key)', keyUpdate!);
  opener.open(keyUpdate!);
  const after = sendText('client → server: application message "after the update" (BATCH, sequence 0 under the next key)', 'after the update');
  sections.push(`The server opens it under its ratcheted opener to \`${after.delivered}\`.\n`);
  const [close] = frames(sealer.seal(RecordType.CLOSE, new Uint8Array(0)));
  show('client → server: CLOSE record (type 0x02, sequence 1 under the next key, empty plaintext)', close!);
  opener.open(close!);
}

export async function renderExamples(): Promise<string> {
  const sections: string[] = [];
  for (const suite of ['a256gcm', 'a256cbc-hs512'] as const) {
    sections.push(`### ${suite === 'a256gcm' ? '5.1 a256gcm (both sides offer both suites: the default)' : '5.2 a256cbc-hs512 (both sides offer only it)'}\n`);
    await session(suite, sections);
  }
  return `${BEGIN}\n\n${sections.join('\n')}\n${END}`;
}

export function documentedExamples(): string {
  const doc = readFileSync(DOC, 'utf8');
  return doc.slice(doc.indexOf(BEGIN), doc.indexOf(END) + END.length);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const doc = readFileSync(DOC, 'utf8');
  writeFileSync(DOC, doc.replace(documentedExamples(), await renderExamples()));
  console.log('docs/PROTOCOL.md examples regenerated');
}

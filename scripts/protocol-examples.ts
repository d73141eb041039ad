/**
 * Renders the worked examples of docs/PROTOCOL.md from the code itself:
 * a complete netcrypt/1 session between two fixed RSA keys (Wycheproof's
 * 2048- and 3072-bit test keys) with every random byte drawn from a fixed
 * SHA-256 counter stream. test/protocol-examples.test.ts checks the document
 * matches; `npm run docs:examples` rewrites it.
 */

import { createHash } from 'node:crypto';
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

/** SHA-256(label ‖ counter) blocks: reproducible "randomness" for the examples only. */
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

type Show = (title: string, bytes: Uint8Array, note?: string) => void;

/** One whole session in `suite`, both sides offering only it (a256gcm: both suites, as by default). */
async function session(suite: SuiteName, sections: string[]): Promise<void> {
  const backend = await loadBackend('native');
  const suites: SuiteName[] = suite === 'a256gcm' ? ['a256gcm', 'a256cbc-hs512'] : ['a256cbc-hs512'];
  const identity = (bits: number) => identityFromPrivateKey(wycheproofKey(bits));
  const client = new Handshake({ role: 'client', identity: identity(2048), backend, suites, random: fixedRandom(`${suite}/client`) });
  const server = new Handshake({ role: 'server', identity: identity(3072), backend, suites, random: fixedRandom(`${suite}/server`) });
  let step = 0;
  const show: Show = (title, bytes, note = '') => sections.push(`**${suite} ${++step}. ${title}** (${bytes.length} bytes${note})\n\n${hexBlock(bytes)}\n`);

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
  sections.push(`Transcript hash H = \`${client.session!.transcriptHash.toString('hex')}\`; suite \`${client.session!.suite.name}\` on both sides.\n`);

  const { sealer } = client.session!;
  const { opener } = server.session!;
  // A lone message of at most 16 KiB travels as a BATCH of one entry (§3), exactly as SecureChannel.send() writes it.
  const sendText = (title: string, text: string) => {
    const batch = new MessageBatch(0);
    batch.add(Buffer.from(text));
    const [record] = frames(sealer.seal(batchRecordType(0), batch.plaintext));
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

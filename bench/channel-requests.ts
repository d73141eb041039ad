/**
 * bench:channel's requests-per-second row: 1 KiB requests answered with
 * 1 KiB replies on one connection, IN_FLIGHT outstanding at every moment,
 * by netcrypt's channel.request()/onRequest() and by HTTPS — a node:https
 * server (TLS 1.3) and an undici Client: one keep-alive connection with
 * HTTP/1.1 pipelining of IN_FLIGHT, so that the same number of requests is
 * in flight on one connection in both (node:https has no HTTP/2; undici
 * pipelines POSTs only when told they are idempotent).
 */

import { randomBytes } from 'node:crypto';
import { Client } from 'undici';
import type { Channel } from '../src/protocol/channel.ts';
import { connect } from '../src/protocol/connect.ts';
import type { Identity } from '../src/keys/identity.ts';
import { cpuMs, type Peer, startPeer } from './peer.ts';
import { watch } from './watchdog.ts';

export const REQUEST_BYTES = 1024;
/** What every server in this row answers: the reply is 1 KiB too. */
export const REPLY = randomBytes(1024);
export const IN_FLIGHT = 64;

const CONNECT_MS = 10_000 + 10_000;
const REQUEST_TIMEOUT_MS = 30_000;

export interface Requests {
  perSecond: number;
  /** CPU per request, each side, in microseconds. */
  clientCpuUs: number;
  serverCpuUs: number;
  /** TCP connections the server accepted during the whole row: must be 1. */
  connections: number;
}

/** Keeps IN_FLIGHT requests outstanding for `ms`; returns how many replies came back and when the last did. */
async function saturate(send: () => Promise<number>, ms: number): Promise<{ replies: number; elapsedMs: number }> {
  let replies = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (performance.now() - t0 < ms) {
        const length = await send();
        if (length !== REPLY.length) throw new Error(`a reply of ${length} bytes, not ${REPLY.length}`);
        replies++;
      }
    }),
  );
  return { replies, elapsedMs: performance.now() - t0 };
}

/** Warm-up (so V8 has compiled both sides' paths), then the measured stretch with each side's CPU. */
async function measure(peer: Peer, send: () => Promise<number>, warmupMs: number, ms: number): Promise<Requests> {
  await saturate(send, warmupMs);
  await peer.ask('mark');
  const cpu0 = cpuMs();
  const { replies, elapsedMs } = await saturate(send, ms);
  const clientCpu = cpuMs() - cpu0;
  const serverCpu = Number(await peer.ask('cpu'));
  const connections = Number(await peer.ask('connections'));
  return { perSecond: replies / (elapsedMs / 1000), clientCpuUs: (clientCpu * 1000) / replies, serverCpuUs: (serverCpu * 1000) / replies, connections };
}

/** netcrypt: native backend, the negotiated suite. */
export async function netcryptRequests(work: string, identity: Identity, warmupMs: number, ms: number): Promise<Requests> {
  const peer = await startPeer(work, 'netcrypt', 'native');
  let channel: Channel | undefined;
  try {
    channel = await watch('connect() for requests', CONNECT_MS, connect({ port: peer.port, identity, backend: 'native', trust: 'any' }));
    const open = channel;
    const request = randomBytes(REQUEST_BYTES);
    const send = async () => (await watch('request()', REQUEST_TIMEOUT_MS, open.request(request, { timeoutMs: REQUEST_TIMEOUT_MS }))).length;
    return await measure(peer, send, warmupMs, ms);
  } finally {
    if (channel) await watch('close() after requests', 5_000, channel.close());
    peer.child.kill();
  }
}

/** HTTPS/1.1 over TLS 1.3: POST with a 1 KiB body, 1 KiB response, pipelined on one keep-alive connection. */
export async function httpsRequests(work: string, warmupMs: number, ms: number): Promise<Requests> {
  const peer = await startPeer(work, 'https');
  const client = new Client(`https://127.0.0.1:${peer.port}`, { pipelining: IN_FLIGHT, connect: { rejectUnauthorized: false } });
  try {
    const body = randomBytes(REQUEST_BYTES);
    const send = async () => {
      const response = await watch(
        'HTTPS request',
        REQUEST_TIMEOUT_MS,
        client.request({ path: '/', method: 'POST', body, headers: { 'content-type': 'application/octet-stream' }, idempotent: true, blocking: false }),
      );
      let length = 0;
      for await (const chunk of response.body) length += (chunk as Buffer).length;
      if (response.statusCode !== 200) throw new Error(`HTTPS status ${response.statusCode}`);
      return length;
    };
    return await measure(peer, send, warmupMs, ms);
  } finally {
    await client.close();
    peer.child.kill();
  }
}

/**
 * Per-source handshake rate limit: a token bucket for each source address
 * (an IPv6 address counts by its /64, which one subscriber usually holds
 * whole). A handshake costs the server an RSA decryption before the peer
 * has proved anything, so a source may begin only `perSecond` of them per
 * second, in bursts of up to `burst`. The table remembers at most
 * `maxSources` sources, least recently seen forgotten first: a forgotten
 * source starts again with a full bucket, so memory stays bounded and a
 * source can only win back its burst by making that many others seen.
 */

import { invalidArgument } from '../errors.ts';

export interface HandshakeRateOptions {
  /** Handshakes a source may begin per second, sustained (default 10). */
  perSecond?: number;
  /** Handshakes a source may begin at once after being quiet (default 20). */
  burst?: number;
  /** Sources remembered (default 10,000). */
  maxSources?: number;
}

export const DEFAULT_HANDSHAKE_RATE = { perSecond: 10, burst: 20, maxSources: 10_000 } as const;

interface Bucket {
  tokens: number;
  /** performance.now() when `tokens` was last brought up to date. */
  updated: number;
}

export class HandshakeRateLimiter {
  readonly #perMs: number;
  readonly #burst: number;
  readonly #maxSources: number;
  /** Map order is recency order: a source seen is moved to the end. */
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: HandshakeRateOptions = {}) {
    const { perSecond, burst, maxSources } = { ...DEFAULT_HANDSHAKE_RATE, ...options };
    if (!(Number.isFinite(perSecond) && perSecond > 0)) throw invalidArgument('handshakeRate.perSecond must be a positive number');
    if (!(Number.isInteger(burst) && burst >= 1)) throw invalidArgument('handshakeRate.burst must be a positive integer');
    if (!(Number.isInteger(maxSources) && maxSources >= 1)) throw invalidArgument('handshakeRate.maxSources must be a positive integer');
    this.#perMs = perSecond / 1000;
    this.#burst = burst;
    this.#maxSources = maxSources;
  }

  /** Sources in the table now (at most maxSources). */
  get size(): number {
    return this.#buckets.size;
  }

  /** Takes one handshake from the source's bucket; false when it is empty. */
  take(address: string | undefined, now = performance.now()): boolean {
    const key = sourceKey(address);
    const bucket = this.#buckets.get(key) ?? { tokens: this.#burst, updated: now };
    this.#buckets.delete(key);
    this.#buckets.set(key, bucket);
    if (this.#buckets.size > this.#maxSources) this.#buckets.delete(this.#buckets.keys().next().value!);
    bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.updated) * this.#perMs);
    bucket.updated = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}

/** IPv4 (also IPv4-mapped IPv6) as is; other IPv6 by its first 64 bits. */
export function sourceKey(address: string | undefined): string {
  if (address === undefined) return '';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  const [head = '', tail] = withoutIpv4Tail(address.split('%')[0]!.toLowerCase()).split('::');
  const front = head === '' ? [] : head.split(':');
  const back = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? front : [...front, ...new Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back];
  return groups.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, '')).join(':') + '::/64';
}

/** `…:a.b.c.d` written as its two last groups, so every group is hexadecimal. */
function withoutIpv4Tail(address: string): string {
  const ipv4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  if (!ipv4) return address;
  const [a, b, c, d] = ipv4.slice(1).map(Number) as [number, number, number, number];
  return `${address.slice(0, ipv4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

/** The server's bookkeeping on its own: the handshake token buckets and the inbound pool. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ErrorCode, NetcryptError } from '../src/errors.ts';
import { HandshakeRateLimiter, sourceKey } from '../src/protocol/handshake-rate.ts';
import { InboundPool } from '../src/protocol/inbound-pool.ts';

describe('handshake rate limiter', () => {
  it('allows a burst, then perSecond, per source', () => {
    const limiter = new HandshakeRateLimiter({ perSecond: 2, burst: 3 });
    const takes = (address: string, now: number, n: number) => Array.from({ length: n }, () => limiter.take(address, now));
    assert.deepEqual(takes('10.0.0.1', 0, 4), [true, true, true, false]);
    assert.deepEqual(takes('10.0.0.2', 0, 3), [true, true, true], 'another source has its own bucket');
    assert.deepEqual(takes('10.0.0.1', 499, 1), [false]);
    assert.deepEqual(takes('10.0.0.1', 500, 2), [true, false], 'one token back after half a second at 2/s');
    assert.deepEqual(takes('10.0.0.1', 100_000, 4), [true, true, true, false], 'refills to the burst, no further');
  });

  it('remembers at most maxSources, forgetting the least recently seen', () => {
    const limiter = new HandshakeRateLimiter({ perSecond: 1, burst: 1, maxSources: 3 });
    for (const address of ['a', 'b', 'c']) assert.equal(limiter.take(address, 0), true);
    assert.equal(limiter.take('a', 0), false); // a is now the most recent
    assert.equal(limiter.take('d', 0), true); // b, the least recent, is forgotten
    assert.equal(limiter.size, 3);
    assert.equal(limiter.take('a', 0), false, 'a is still remembered, with its bucket empty');
    assert.equal(limiter.take('b', 0), true, 'b was forgotten and starts again full');
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.ipV4(), fc.nat(10_000)), { maxLength: 200 }), fc.integer({ min: 1, max: 20 }), (events, maxSources) => {
        const table = new HandshakeRateLimiter({ maxSources });
        for (const [address, now] of events) {
          table.take(address, now);
          if (table.size > maxSources) return false;
        }
        return true;
      }),
    );
  });

  it('counts IPv4-mapped addresses as IPv4 and IPv6 addresses by their /64', () => {
    assert.equal(sourceKey('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(sourceKey('192.0.2.7'), '192.0.2.7');
    assert.equal(sourceKey('2001:db8:0:1::1'), sourceKey('2001:0db8:0000:0001:ffff:ffff:ffff:ffff'));
    assert.notEqual(sourceKey('2001:db8:0:1::1'), sourceKey('2001:db8:0:2::1'));
    assert.equal(sourceKey('::1'), '0:0:0:0::/64');
    assert.equal(sourceKey('fe80::1%eth0'), sourceKey('fe80::2'));
    // Any spelling of an address (compressed or not, any case) has the key of its first 64 bits.
    fc.assert(
      fc.property(fc.ipV6(), (address) => {
        const full = expand(address);
        return sourceKey(address) === sourceKey(full) && sourceKey(address.toUpperCase()) === sourceKey(address);
      }),
    );
  });

  it('refuses nonsense options', () => {
    for (const options of [{ perSecond: 0 }, { perSecond: -1 }, { perSecond: NaN }, { burst: 0 }, { burst: 1.5 }, { maxSources: 0 }]) {
      assert.throws(() => new HandshakeRateLimiter(options), (error: unknown) => error instanceof NetcryptError && error.code === ErrorCode.INVALID_ARGUMENT);
    }
  });
});

/** An IPv6 address written out in eight groups (an embedded IPv4 tail becomes two). */
function expand(address: string): string {
  const ipv4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  const hex = ipv4 ? address.slice(0, ipv4.index) + [[1, 2], [3, 4]].map(([a, b]) => ((Number(ipv4[a!]) << 8) | Number(ipv4[b!])).toString(16)).join(':') : address;
  const [head = '', tail] = hex.split('::');
  const front = head === '' ? [] : head.split(':');
  const back = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? front : [...front, ...new Array<string>(8 - front.length - back.length).fill('0'), ...back];
  return groups.map((group) => group.padStart(4, '0')).join(':');
}

describe('inbound pool', () => {
  it('drops the largest holder to make room, and the charging connection when it is the largest', async () => {
    const pool = new InboundPool(100);
    const dropped: string[] = [];
    const open = (name: string) => pool.open((error) => dropped.push(`${name} ${error.code}`));
    const big = open('big');
    const small = open('small');
    assert.equal(big.charge(70), true);
    assert.equal(small.charge(20), true);
    assert.equal(small.charge(20), true, 'room is made by dropping big, which holds more');
    await Promise.resolve();
    assert.deepEqual(dropped, ['big ERR_BUDGET_EXCEEDED']);
    assert.equal(pool.usedBytes, 40);
    assert.equal(big.charge(1), false, 'a dropped connection may hold nothing more');
    const other = open('other');
    assert.equal(other.charge(50), true);
    assert.equal(other.charge(20), false, 'other would hold the most: it is the one refused');
    assert.equal(pool.usedBytes, 90);
  });

  it('never holds more than its limit, nor less than nothing', () => {
    const operation = fc.record({ account: fc.nat(4), kind: fc.constantFrom('charge', 'refund', 'close'), bytes: fc.nat(300) });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.array(operation, { maxLength: 100 }), (limit, operations) => {
        const pool = new InboundPool(limit);
        const accounts = Array.from({ length: 5 }, () => pool.open(() => {}));
        for (const { account, kind, bytes } of operations) {
          if (kind === 'charge') accounts[account]!.charge(bytes);
          if (kind === 'refund') accounts[account]!.refund(bytes);
          if (kind === 'close') accounts[account]!.close();
          if (pool.usedBytes > limit || pool.usedBytes < 0) return false;
        }
        return true;
      }),
    );
  });
});

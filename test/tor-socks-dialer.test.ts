import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dns from 'node:dns';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, mock, test } from 'node:test';
import { dialThroughSocks } from '../src/tor/socks-dialer.ts';
import { enableTor } from '../src/tor/tor-client.ts';
import { type Microsocks, type TorDaemon, freePort, startMicrosocks, startTor } from './helpers/tor-daemons.ts';
import { rejectsWith, throwsWith } from './helpers/tor-errors.ts';
import { type SocksAnswer, type SocksPeer, startEchoServer, startSocksPeer } from './helpers/tor-socks-peer.ts';

const ONION = '2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion';

/** Writes `payload` and returns what comes back before the peer has sent as much or closed. */
async function echoed(socket: net.Socket, payload: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  const done = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= payload.length) resolve();
    });
    socket.once('error', reject);
    socket.once('close', () => resolve());
  });
  socket.resume();
  socket.write(payload);
  await done;
  socket.destroy();
  return Buffer.concat(chunks);
}

describe('dialThroughSocks through microsocks, a real SOCKS5 server', () => {
  const credentials = { username: 'alice', password: 'correct horse battery staple' };
  let echo: Awaited<ReturnType<typeof startEchoServer>>;
  let open: Microsocks;
  let locked: Microsocks;

  before(async () => {
    echo = await startEchoServer();
    open = await startMicrosocks();
    locked = await startMicrosocks(credentials);
  });
  after(async () => {
    await Promise.allSettled([echo?.close(), open?.stop(), locked?.stop()]);
  });

  test('carries data to a loopback echo server, without proxy credentials', async () => {
    const payload = randomBytes(256 * 1024);
    const socket = await dialThroughSocks({ host: '127.0.0.1', port: echo.port, proxy: { port: open.port } });
    assert.deepEqual(await echoed(socket, payload), payload);
  });

  test('carries data with a username and password', async () => {
    const payload = randomBytes(64 * 1024);
    const socket = await dialThroughSocks({ host: '127.0.0.1', port: echo.port, proxy: { port: locked.port, ...credentials } });
    assert.deepEqual(await echoed(socket, payload), payload);
  });

  test('hands the host name to the proxy unresolved: this process makes no DNS lookup, the proxy resolves it', async () => {
    const lookups = mock.method(dns, 'lookup');
    try {
      // Control: connecting by name directly does go through dns.lookup, so the spy would see a leak.
      const direct = net.connect(echo.port, 'localhost');
      await Promise.race([once(direct, 'connect'), once(direct, 'error')]);
      direct.destroy();
      assert.ok(lookups.mock.calls.some((call) => call.arguments[0] === 'localhost'), 'the spy sees lookups made by net');
      lookups.mock.resetCalls();

      const payload = Buffer.from('resolved by the proxy');
      const socket = await dialThroughSocks({ host: 'localhost', port: echo.port, proxy: { port: open.port } });
      assert.deepEqual(await echoed(socket, payload), payload);
      assert.deepEqual(lookups.mock.calls.map((call) => call.arguments[0]), []);
    } finally {
      lookups.mock.restore();
    }
  });

  test('a wrong password is ERR_TOR_PROXY_AUTH', async () => {
    await rejectsWith(
      dialThroughSocks({ host: '127.0.0.1', port: echo.port, proxy: { port: locked.port, username: 'alice', password: 'wrong' } }),
      'ERR_TOR_PROXY_AUTH',
      /rejected our SOCKS username and password/,
    );
  });

  test('offering no credentials to a proxy that requires them is ERR_TOR_PROXY_AUTH', async () => {
    await rejectsWith(
      dialThroughSocks({ host: '127.0.0.1', port: echo.port, proxy: { port: locked.port }, isolation: false }),
      'ERR_TOR_PROXY_AUTH',
      /accepts none of our authentication methods/,
    );
  });

  test('nothing listening on the proxy port is ERR_TOR_PROXY_UNREACHABLE', async () => {
    const port = await freePort();
    await rejectsWith(
      dialThroughSocks({ host: '127.0.0.1', port: echo.port, proxy: { port } }),
      'ERR_TOR_PROXY_UNREACHABLE',
      new RegExp(`127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`),
    );
  });

  test('the proxy up but the destination port closed is ERR_TOR_CONNECT, connection refused', async () => {
    const closed = await freePort();
    await rejectsWith(
      dialThroughSocks({ host: '127.0.0.1', port: closed, proxy: { port: open.port } }),
      'ERR_TOR_CONNECT',
      new RegExp(`127\\.0\\.0\\.1:${closed}: connection refused \\(SOCKS5 reply 0x05\\)`),
    );
  });

  test('enableTor().connect dials through the configured proxy', async () => {
    const tor = enableTor({ proxy: { port: locked.port, ...credentials } });
    assert.deepEqual(tor.proxy, { host: '127.0.0.1', port: locked.port });
    const payload = randomBytes(1024);
    assert.deepEqual(await echoed(await tor.connect(echo.port, '127.0.0.1'), payload), payload);
  });
});

describe('enableTor', () => {
  test('defaults to 127.0.0.1:9050', () => {
    assert.deepEqual(enableTor().proxy, { host: '127.0.0.1', port: 9050 });
  });

  test('rejects bad options at once, not at the first connection', () => {
    throwsWith(() => enableTor({ proxy: { port: 0 } }), 'ERR_INVALID_ARGUMENT', /proxy\.port/);
    throwsWith(() => enableTor({ proxy: { username: 'only-a-name' } }), 'ERR_INVALID_ARGUMENT', /both be given/);
    throwsWith(() => enableTor({ isolation: '' }), 'ERR_INVALID_ARGUMENT', /isolation/);
    throwsWith(() => enableTor({ timeoutMs: 0 }), 'ERR_INVALID_ARGUMENT', /timeoutMs/);
  });
});

describe('dialThroughSocks against a scripted SOCKS5 peer', () => {
  let peer: SocksPeer;
  let answer: SocksAnswer = { reply: 0x00 };
  const dial = (options: Partial<Parameters<typeof dialThroughSocks>[0]> = {}) =>
    dialThroughSocks({ host: 'example.org', port: 443, proxy: { port: peer.port }, timeoutMs: 5000, ...options });
  const lastRequest = () => {
    const request = peer.requests.at(-1);
    assert.ok(request, 'the peer received a request');
    return request;
  };

  before(async () => {
    peer = await startSocksPeer({ answer: () => answer });
  });
  after(async () => {
    await peer?.close();
  });

  const connectReplies: Array<[number, string]> = [
    [0x01, 'general SOCKS server failure'],
    [0x02, 'connection not allowed by ruleset'],
    [0x03, 'network unreachable'],
    [0x04, 'host unreachable'],
    [0x05, 'connection refused'],
    [0x06, 'TTL expired'],
    [0x07, 'command not supported'],
    [0x08, 'address type not supported'],
  ];
  for (const [code, reason] of connectReplies) {
    test(`reply 0x0${code} is ERR_TOR_CONNECT: ${reason}`, async () => {
      answer = { reply: code };
      await rejectsWith(dial(), 'ERR_TOR_CONNECT', new RegExp(`example\\.org:443: ${reason}.*\\(SOCKS5 reply 0x0${code}\\)`));
    });
  }

  const onionReplies: Array<[number, RegExp]> = [
    [0xf0, /descriptor not found/],
    [0xf1, /descriptor is invalid/],
    [0xf2, /introduction to the onion service failed/],
    [0xf3, /rendezvous with the onion service failed/],
    [0xf4, /requires client authorization/],
    [0xf5, /rejected our client authorization/],
    [0xf6, /invalid onion address/],
    [0xf7, /introduction to the onion service timed out/],
  ];
  for (const [code, reason] of onionReplies) {
    const hex = code.toString(16).toUpperCase();
    test(`Tor's onion reply 0x${hex} is ERR_TOR_ONION: ${reason.source}`, async () => {
      answer = { reply: code };
      const error = await rejectsWith(dial({ host: ONION, port: 80 }), 'ERR_TOR_ONION', reason);
      assert.match(error.message, new RegExp(`onion service ${ONION}:80: .*\\(SOCKS5 reply 0x${hex}\\)$`));
    });
  }

  test('an unassigned reply code is ERR_TOR_CONNECT naming the code', async () => {
    answer = { reply: 0x7a };
    await rejectsWith(dial(), 'ERR_TOR_CONNECT', /unknown SOCKS5 reply 0x7A/);
  });

  test('a success reply with an unknown address type is ERR_TOR_CONNECT, not a connection', async () => {
    for (const addressType of [0x00, 0x02, 0x05, 0xff]) {
      answer = { reply: 0x00, addressType, payload: Buffer.from('would-be data') };
      await rejectsWith(dial(), 'ERR_TOR_CONNECT', new RegExp(`unknown address type \\(0x${addressType.toString(16).padStart(2, '0').toUpperCase()}\\)`));
    }
  });

  test('host names, .onion included, go to the proxy as DOMAINNAME; IP literals as addresses', async () => {
    answer = { reply: 0x00 };
    const cases: Array<[string, number, string]> = [
      ['localhost', 0x03, 'localhost'],
      [ONION, 0x03, ONION],
      ['bücher.example', 0x03, 'xn--bcher-kva.example'],
      ['203.0.113.5', 0x01, '203.0.113.5'],
      ['::1', 0x04, '0:0:0:0:0:0:0:1'],
      ['[2001:db8::7]', 0x04, '2001:db8:0:0:0:0:0:7'],
    ];
    for (const [host, addressType, sent] of cases) {
      (await dial({ host, port: 8443 })).destroy();
      assert.deepEqual([lastRequest().addressType, lastRequest().host, lastRequest().port], [addressType, sent, 8443], host);
    }
  });

  test('isolation: fresh credentials per connection by default, stable ones per key, none when off', async () => {
    answer = { reply: 0x00 };
    const credentialsOf = async (options: Partial<Parameters<typeof dialThroughSocks>[0]>) => {
      (await dial(options)).destroy();
      const { methods, username, password } = lastRequest();
      return { methods, username, password };
    };

    const first = await credentialsOf({});
    const second = await credentialsOf({ isolation: 'per-connection' });
    assert.deepEqual(first.methods, [0x00, 0x02]);
    assert.notEqual(first.password, second.password);

    const keyed = await credentialsOf({ isolation: 'peer alice' });
    assert.deepEqual(await credentialsOf({ isolation: 'peer alice' }), keyed);
    assert.notDeepEqual(await credentialsOf({ isolation: 'peer bob' }), keyed);
    assert.ok(!`${keyed.username}${keyed.password}`.includes('alice'), 'the isolation key itself is not sent');

    assert.deepEqual(await credentialsOf({ isolation: false }), { methods: [0x00], username: undefined, password: undefined });
    const fixed = await credentialsOf({ proxy: { port: peer.port, username: 'u', password: 'p' }, isolation: 'ignored' });
    assert.deepEqual([fixed.username, fixed.password], ['u', 'p']);
  });

  test('a proxy that never answers is ERR_TIMEOUT, and the connection is closed', async () => {
    answer = 'silent';
    const closedBefore = peer.connections.closed;
    const started = Date.now();
    await rejectsWith(dial({ timeoutMs: 200 }), 'ERR_TIMEOUT', /example\.org:443 .* timed out after 200 ms/);
    assert.ok(Date.now() - started < 2000);
    await peer.closedConnections(closedBefore + 1);
  });

  test('an AbortSignal cancels the attempt and closes the connection', async () => {
    answer = 'silent';
    const closedBefore = peer.connections.closed;
    const requestsBefore = peer.requests.length;
    const controller = new AbortController();
    const attempt = dial({ signal: controller.signal });
    while (peer.requests.length === requestsBefore) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort(new Error('user gave up'));
    const error = await rejectsWith(attempt, 'ERR_ABORTED', /was aborted/);
    assert.match(String((error.cause as Error).message), /user gave up/);
    await peer.closedConnections(closedBefore + 1);
  });

  test('an already aborted signal does not even connect', async () => {
    const acceptedBefore = peer.connections.accepted;
    await rejectsWith(dial({ signal: AbortSignal.abort() }), 'ERR_ABORTED');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(peer.connections.accepted, acceptedBefore);
  });

  test('bytes the destination sent together with the proxy reply wait, paused, for a late reader, then the end', async () => {
    const payload = Buffer.from('server speaks first, in the same segment as the SOCKS reply');
    answer = { reply: 0x00, payload, end: true };
    const socket = await dial();
    // A reader that attaches late, after several event-loop turns, still gets every byte.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.resume();
    await once(socket, 'end');
    socket.destroy();
    assert.deepEqual(Buffer.concat(chunks), payload);
  });

  test('a server that is not a SOCKS5 proxy is ERR_TOR_PROXY_UNREACHABLE', async () => {
    const http = net.createServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    try {
      const { port } = http.address() as net.AddressInfo;
      await rejectsWith(dial({ proxy: { port } }), 'ERR_TOR_PROXY_UNREACHABLE', /did not answer as a SOCKS5 proxy/);
    } finally {
      http.close();
    }
  });

  test('invalid arguments are ERR_INVALID_ARGUMENT before anything is sent', async () => {
    const acceptedBefore = peer.connections.accepted;
    await rejectsWith(dial({ port: 0 }), 'ERR_INVALID_ARGUMENT', /port/);
    await rejectsWith(dial({ host: '' }), 'ERR_INVALID_ARGUMENT', /host/);
    await rejectsWith(dial({ host: 'bad host' }), 'ERR_INVALID_ARGUMENT', /host/);
    await rejectsWith(dial({ host: `${'a'.repeat(256)}.example` }), 'ERR_INVALID_ARGUMENT', /host/);
    await rejectsWith(dial({ proxy: { port: peer.port, password: 'no name' } }), 'ERR_INVALID_ARGUMENT', /username/);
    await rejectsWith(dial({ timeoutMs: 2 ** 31 }), 'ERR_INVALID_ARGUMENT', /timeoutMs/);
    assert.equal(peer.connections.accepted, acceptedBefore);
  });
});

describe("dialThroughSocks against a real tor's SocksPort (kept off the network)", () => {
  let tor: TorDaemon;

  before(async () => {
    tor = await startTor({ socks: true });
  });
  after(async () => {
    await tor?.stop();
  });

  test('an invalid onion address gets 0xF6 from tor, which `socks` cannot name: ERR_TOR_ONION', async () => {
    const badChecksum = `${'a'.repeat(56)}.onion`;
    await rejectsWith(
      dialThroughSocks({ host: badChecksum, port: 80, proxy: { port: tor.socksPort }, timeoutMs: 10_000 }),
      'ERR_TOR_ONION',
      /invalid onion address .*\(SOCKS5 reply 0xF6\)/,
    );
  });

  test('tor refuses to carry a connection to a private address: ERR_TOR_CONNECT', async () => {
    await rejectsWith(
      dialThroughSocks({ host: '127.0.0.1', port: 80, proxy: { port: tor.socksPort }, timeoutMs: 10_000 }),
      'ERR_TOR_CONNECT',
      /127\.0\.0\.1:80: general SOCKS server failure/,
    );
  });
});

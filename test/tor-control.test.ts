import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TorControl } from '../src/tor/control-port.ts';
import { hostOnionService } from '../src/tor/onion-service.ts';
import { type TorDaemon, freePort, startTor } from './helpers/tor-daemons.ts';
import { rejectsWith } from './helpers/tor-errors.ts';

describe('TorControl against a real tor (DisableNetwork 1)', () => {
  let tor: TorDaemon;
  let scratch: string;
  const cookieOfSize = async (size: number): Promise<string> => {
    const file = path.join(scratch, `cookie-${size}-${randomBytes(4).toString('hex')}`);
    await writeFile(file, randomBytes(size));
    return file;
  };

  before(async () => {
    tor = await startTor();
    scratch = await mkdtemp(path.join(os.tmpdir(), 'netcrypt-tor-control-'));
  });
  after(async () => {
    await tor?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  test('PROTOCOLINFO reports the offered methods, the cookie file and the version', async () => {
    const control = await TorControl.connect({ port: tor.controlPort, password: tor.password });
    try {
      assert.deepEqual([...control.protocolInfo.authMethods].sort(), ['COOKIE', 'HASHEDPASSWORD', 'SAFECOOKIE']);
      assert.equal(control.protocolInfo.cookieFile, tor.cookieFile);
      assert.match(control.protocolInfo.torVersion ?? '', /^\d+\.\d+\.\d+/);
    } finally {
      await control.close();
    }
  });

  test('SAFECOOKIE is chosen by default, with the cookie file tor names', async () => {
    const control = await TorControl.connect({ port: tor.controlPort });
    try {
      assert.equal(control.authMethod, 'SAFECOOKIE');
      assert.equal(await control.getInfo('version'), control.protocolInfo.torVersion);
    } finally {
      await control.close();
    }
  });

  test('COOKIE authenticates when asked for', async () => {
    const control = await TorControl.connect({ port: tor.controlPort, authMethod: 'COOKIE' });
    try {
      assert.equal(control.authMethod, 'COOKIE');
      assert.match(await control.getInfo('version'), /^\d/);
    } finally {
      await control.close();
    }
  });

  test('a password authenticates with HASHEDPASSWORD', async () => {
    const control = await TorControl.connect({ port: tor.controlPort, password: tor.password });
    try {
      assert.equal(control.authMethod, 'HASHEDPASSWORD');
      assert.match(await control.getInfo('version'), /^\d/);
    } finally {
      await control.close();
    }
  });

  test("a wrong password is ERR_TOR_CONTROL carrying tor's reason", async () => {
    await rejectsWith(TorControl.connect({ port: tor.controlPort, password: 'not the password' }), 'ERR_TOR_CONTROL', /refused AUTHENTICATE: 515 Authentication failed/);
  });

  test("a wrong cookie: SAFECOOKIE finds tor's proof does not match, before sending anything", async () => {
    await rejectsWith(
      TorControl.connect({ port: tor.controlPort, cookieFile: await cookieOfSize(32) }),
      'ERR_TOR_CONTROL',
      /could not prove it knows the authentication cookie/,
    );
  });

  test('a wrong cookie with COOKIE: tor refuses it', async () => {
    await rejectsWith(
      TorControl.connect({ port: tor.controlPort, authMethod: 'COOKIE', cookieFile: await cookieOfSize(32) }),
      'ERR_TOR_CONTROL',
      /refused AUTHENTICATE: 515/,
    );
  });

  test('a file that is not 32 bytes is never used as a cookie', async () => {
    await rejectsWith(TorControl.connect({ port: tor.controlPort, cookieFile: await cookieOfSize(31) }), 'ERR_TOR_CONTROL', /not a Tor authentication cookie/);
    await rejectsWith(TorControl.connect({ port: tor.controlPort, cookieFile: await cookieOfSize(33) }), 'ERR_TOR_CONTROL', /not a Tor authentication cookie/);
    await rejectsWith(TorControl.connect({ port: tor.controlPort, cookieFile: path.join(scratch, 'missing') }), 'ERR_TOR_CONTROL', /ENOENT/);
  });

  test('GETINFO config-text: a multi-line data reply, unstuffed and without its terminator', async () => {
    const control = await TorControl.connect({ port: tor.controlPort });
    try {
      const lines = (await control.getInfo('config-text')).split('\n');
      assert.ok(lines.includes(`ControlPort 127.0.0.1:${tor.controlPort}`), lines.join('\n'));
      assert.ok(lines.includes('DisableNetwork 1'));
      assert.ok(!lines.includes('.'));
    } finally {
      await control.close();
    }
  });

  test('pipelined commands get their own replies, in order', async () => {
    const control = await TorControl.connect({ port: tor.controlPort });
    try {
      const [version, listeners, dormant, again] = await Promise.all([
        control.getInfo('version'),
        control.getInfo('net/listeners/control'),
        control.getInfo('dormant'),
        control.getInfo('version'),
      ]);
      assert.equal(version, again);
      assert.equal(listeners, `"127.0.0.1:${tor.controlPort}"`);
      assert.match(dormant, /^[01]$/);
    } finally {
      await control.close();
    }
  });

  test("a refused command is ERR_TOR_CONTROL with tor's reply, and the connection stays usable", async () => {
    const control = await TorControl.connect({ port: tor.controlPort });
    try {
      await rejectsWith(control.command('NO_SUCH_COMMAND'), 'ERR_TOR_CONTROL', /refused NO_SUCH_COMMAND: 510 Unrecognized command/);
      await rejectsWith(control.getInfo('no/such/key'), 'ERR_TOR_CONTROL', /552 Unrecognized key/);
      assert.match(await control.getInfo('version'), /^\d/);
    } finally {
      await control.close();
    }
  });

  test('a command is one line: no smuggling a second command in', async () => {
    const control = await TorControl.connect({ port: tor.controlPort });
    try {
      await rejectsWith(control.command('GETINFO version\r\nSIGNAL HALT'), 'ERR_INVALID_ARGUMENT', /one non-empty line/);
      await rejectsWith(control.getInfo('version\nSIGNAL HALT'), 'ERR_INVALID_ARGUMENT', /not a GETINFO key/);
      assert.match(await control.getInfo('version'), /^\d/);
    } finally {
      await control.close();
    }
  });

  test('close() ends the connection; commands after it are ERR_TOR_CONTROL', async () => {
    const control = await TorControl.connect({ port: tor.controlPort });
    await control.close();
    await control.close();
    assert.equal(control.closed, true);
    await rejectsWith(control.getInfo('version'), 'ERR_TOR_CONTROL', /closed the connection/);
  });
});

describe('TorControl against a real tor whose control port asks for no authentication', () => {
  let tor: TorDaemon;
  before(async () => {
    tor = await startTor({ nullAuth: true });
  });
  after(() => tor?.stop());

  test('it is refused by default, and hostOnionService with it', async () => {
    await rejectsWith(TorControl.connect({ port: tor.controlPort }), 'ERR_TOR_CONTROL', /asks for no authentication/);
    await rejectsWith(hostOnionService({ controlPort: tor.controlPort, port: 4000 }), 'ERR_TOR_CONTROL', /asks for no authentication/);
  });

  test('allowNullAuth: true accepts it', async () => {
    const control = await TorControl.connect({ port: tor.controlPort, allowNullAuth: true });
    try {
      assert.equal(control.authMethod, 'NULL');
      assert.deepEqual(control.protocolInfo.authMethods, ['NULL']);
      assert.match(await control.getInfo('version'), /^\d/);
    } finally {
      await control.close();
    }
  });
});

/** A scripted stand-in for a control port: `answer` maps each command line to the reply to send, or undefined for silence. */
async function fakeControlPort(answer: (line: string) => string | undefined) {
  const received: string[] = [];
  let closedConnections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => {
      sockets.delete(socket);
      closedConnections++;
    });
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      let end: number;
      while ((end = buffered.indexOf('\r\n')) !== -1) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        received.push(line);
        const reply = answer(line);
        if (reply !== undefined) socket.write(reply);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    received,
    closedConnections: () => closedConnections,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

const protocolInfo = (methods: string, cookieFile?: string) =>
  `250-PROTOCOLINFO 1\r\n250-AUTH METHODS=${methods}${cookieFile ? ` COOKIEFILE="${cookieFile}"` : ''}\r\n250-VERSION Tor="0.4.9.11"\r\n250 OK\r\n`;

describe('TorControl against scripted control ports', () => {
  let scratch: string;
  let cookieFile: string;

  before(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'netcrypt-tor-control-'));
    cookieFile = path.join(scratch, 'control_auth_cookie');
    await writeFile(cookieFile, randomBytes(32));
  });
  after(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  test('an impostor that cannot prove it knows the cookie never receives our proof', async () => {
    const fake = await fakeControlPort((line) => {
      if (line === 'PROTOCOLINFO 1') return protocolInfo('COOKIE,SAFECOOKIE', cookieFile);
      if (line.startsWith('AUTHCHALLENGE SAFECOOKIE ')) {
        return `250 AUTHCHALLENGE SERVERHASH=${randomBytes(32).toString('hex')} SERVERNONCE=${randomBytes(32).toString('hex')}\r\n`;
      }
      return '250 OK\r\n';
    });
    try {
      await rejectsWith(TorControl.connect({ port: fake.port }), 'ERR_TOR_CONTROL', /could not prove it knows the authentication cookie/);
      assert.deepEqual(fake.received.map((line) => line.split(' ')[0]), ['PROTOCOLINFO', 'AUTHCHALLENGE']);
    } finally {
      await fake.close();
    }
  });

  test('a port offering only plain COOKIE, with a file of its choosing, is refused: the file is never sent', async () => {
    const fake = await fakeControlPort((line) => (line === 'PROTOCOLINFO 1' ? protocolInfo('COOKIE', cookieFile) : '250 OK\r\n'));
    try {
      await rejectsWith(TorControl.connect({ port: fake.port }), 'ERR_TOR_CONTROL', /no usable authentication method \(Tor offers COOKIE\)/);
      assert.deepEqual(fake.received, ['PROTOCOLINFO 1']);
    } finally {
      await fake.close();
    }
  });

  test('a port asking for no authentication is refused unless allowNullAuth is set, and then only without a cookie', async () => {
    const fake = await fakeControlPort((line) => (line === 'PROTOCOLINFO 1' ? protocolInfo('NULL') : line.startsWith('ADD_ONION') ? '250-ServiceID=invented\r\n250 OK\r\n' : '250 OK\r\n'));
    try {
      // A squatter on the port: without the opt-in nothing but PROTOCOLINFO is sent, so no onion address of its invention comes back.
      await rejectsWith(TorControl.connect({ port: fake.port }), 'ERR_TOR_CONTROL', /asks for no authentication.*allowNullAuth: true/);
      await rejectsWith(hostOnionService({ controlPort: fake.port, port: 4000 }), 'ERR_TOR_CONTROL', /asks for no authentication/);
      assert.deepEqual(fake.received, ['PROTOCOLINFO 1', 'PROTOCOLINFO 1']);
      const control = await TorControl.connect({ port: fake.port, allowNullAuth: true });
      assert.equal(control.authMethod, 'NULL');
      await control.close();
      await rejectsWith(TorControl.connect({ port: fake.port, cookieFile, allowNullAuth: true }), 'ERR_TOR_CONTROL', /no usable authentication method \(Tor offers NULL\)/);
      assert.deepEqual(fake.received.slice(2), ['PROTOCOLINFO 1', 'AUTHENTICATE', 'PROTOCOLINFO 1']);
    } finally {
      await fake.close();
    }
  });

  test('a malformed reply is ERR_TOR_CONTROL and closes the connection', async () => {
    const fake = await fakeControlPort(() => 'HELLO\r\n');
    try {
      await rejectsWith(TorControl.connect({ port: fake.port }), 'ERR_TOR_CONTROL', /malformed reply .*status code/);
    } finally {
      await fake.close();
    }
  });

  test('a control port that never answers: ERR_TIMEOUT, and the connection is closed', async () => {
    const fake = await fakeControlPort(() => undefined);
    try {
      await rejectsWith(TorControl.connect({ port: fake.port, timeoutMs: 200 }), 'ERR_TIMEOUT', /timed out after 200 ms/);
      while (fake.closedConnections() < 1) await new Promise((resolve) => setTimeout(resolve, 5));
    } finally {
      await fake.close();
    }
  });

  test('an AbortSignal cancels connecting', async () => {
    const fake = await fakeControlPort(() => undefined);
    try {
      const controller = new AbortController();
      const attempt = TorControl.connect({ port: fake.port, signal: controller.signal });
      while (fake.received.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      controller.abort();
      await rejectsWith(attempt, 'ERR_ABORTED');
      while (fake.closedConnections() < 1) await new Promise((resolve) => setTimeout(resolve, 5));
    } finally {
      await fake.close();
    }
  });

  test('a command that times out closes the connection, since its late reply would desynchronise the next', async () => {
    const fake = await fakeControlPort((line) => (line === 'PROTOCOLINFO 1' ? protocolInfo('NULL') : line === 'AUTHENTICATE' ? '250 OK\r\n' : undefined));
    try {
      const control = await TorControl.connect({ port: fake.port, allowNullAuth: true });
      await rejectsWith(control.command('GETINFO version', { timeoutMs: 100 }), 'ERR_TIMEOUT', /GETINFO timed out after 100 ms/);
      assert.equal(control.closed, true);
      await rejectsWith(control.getInfo('version'), 'ERR_TOR_CONTROL', /was closed: the command GETINFO timed out or was aborted/);
    } finally {
      await fake.close();
    }
  });

  test('nothing listening on the control port is ERR_TOR_CONTROL', async () => {
    await rejectsWith(TorControl.connect({ port: await freePort() }), 'ERR_TOR_CONTROL', /cannot reach the Tor control port 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
  });
});

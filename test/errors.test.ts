/** NetcryptError: the brand that makes instanceof work across copies of the package, origin, and ERR_CONNECT. */

import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { ErrorCode, NetcryptError, isNetcryptError } from '../src/errors.ts';
import { connect } from '../src/protocol/connect.ts';
import { testIdentities } from './helpers/identities.ts';

// A second evaluation of the module, as when two versions of netcrypt are installed side by side.
const other = (await import(`../src/errors.ts?copy=${Date.now()}`)) as typeof import('../src/errors.ts');

describe('NetcryptError across two copies of the package', () => {
  it('the two copies are distinct classes', () => {
    assert.notEqual(other.NetcryptError, NetcryptError);
  });

  it('instanceof and isNetcryptError() hold in both directions', () => {
    const fromOther = new other.NetcryptError(other.ErrorCode.AUTH, 'x');
    const fromThis = new NetcryptError(ErrorCode.AUTH, 'x');
    assert.ok(fromOther instanceof NetcryptError);
    assert.ok(fromThis instanceof other.NetcryptError);
    assert.ok(isNetcryptError(fromOther, 'ERR_AUTH'));
    assert.ok(other.isNetcryptError(fromThis, 'ERR_AUTH'));
    assert.equal(isNetcryptError(fromOther, 'ERR_PROTOCOL'), false);
  });

  it('other values are not NetcryptErrors', () => {
    for (const value of [new Error('x'), Object.assign(new Error('x'), { code: 'ERR_AUTH', name: 'NetcryptError' }), null, undefined, 'ERR_AUTH', {}]) {
      assert.equal(value instanceof NetcryptError, false);
      assert.equal(isNetcryptError(value), false);
    }
  });
});

describe('NetcryptError properties', () => {
  it('origin is local unless the error was reported by the peer', () => {
    assert.equal(new NetcryptError(ErrorCode.PROTOCOL, 'x').origin, 'local');
    assert.equal(new NetcryptError(ErrorCode.PROTOCOL, 'x', { origin: 'peer' }).origin, 'peer');
  });

  it('keeps the cause and copies a system error’s syscall and errno', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED'), { syscall: 'connect', errno: -111, code: 'ECONNREFUSED' });
    const error = new NetcryptError(ErrorCode.CONNECT, 'y', { cause });
    assert.equal(error.cause, cause);
    assert.equal(error.syscall, 'connect');
    assert.equal(error.errno, -111);
    assert.equal(new NetcryptError(ErrorCode.CONNECT, 'z').syscall, undefined);
  });
});

describe('connect() failures', () => {
  it('a refused connection is ERR_CONNECT with the system error as cause', async () => {
    const [identity] = await testIdentities();
    // A port that was just free: bind, note it, close.
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const error = await connect({ port, identity, pin: identity!.fingerprint }).then(
      () => assert.fail('connected to a closed port'),
      (reason: unknown) => reason,
    );
    assert.ok(isNetcryptError(error, 'ERR_CONNECT'), String(error));
    assert.equal((error.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
    assert.equal(error.syscall, 'connect');
    assert.equal(typeof error.errno, 'number');
    assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
  });
});

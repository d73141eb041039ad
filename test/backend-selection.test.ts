import assert from 'node:assert/strict';
import { it } from 'node:test';
import { AUTO_ORDER, getDefaultBackendChoice, loadBackend, resolveBackend, setDefaultBackend } from '../src/backend/index.ts';

it('auto picks the first backend of AUTO_ORDER, which is native', async () => {
  assert.equal(AUTO_ORDER[0], 'native');
  assert.equal((await loadBackend('auto')).name, 'native');
  assert.equal((await loadBackend()).name, 'native');
});

it('an explicit name loads exactly that backend, once', async () => {
  for (const name of ['native', 'wasm', 'pure'] as const) {
    const first = await loadBackend(name);
    assert.equal(first.name, name);
    assert.equal(await loadBackend(name), first);
  }
});

it('an unknown backend name is an argument error, not a fallback', async () => {
  await assert.rejects(loadBackend('openssl' as never), { code: 'ERR_INVALID_ARGUMENT' });
  assert.throws(() => setDefaultBackend('fast' as never), { code: 'ERR_INVALID_ARGUMENT' });
});

it('the process default applies where no option is given, and an option overrides it', async () => {
  assert.equal(getDefaultBackendChoice(), 'auto');
  setDefaultBackend('pure');
  try {
    assert.equal((await resolveBackend()).name, 'pure');
    assert.equal((await resolveBackend('wasm')).name, 'wasm');
    const native = await loadBackend('native');
    assert.equal(await resolveBackend(native), native);
  } finally {
    setDefaultBackend('auto');
  }
});

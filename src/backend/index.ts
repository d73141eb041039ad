/**
 * Backend selection. Every entry point takes a `backend` option; without
 * one, the process default applies (`setDefaultBackend`). An explicitly
 * named backend that cannot load is an error, never a silent substitute.
 */

import { invalidArgument } from '../errors.ts';
import { createNativeBackend } from './native.ts';
import { createPureBackend } from './pure.ts';
import type { Backend, BackendName } from './types.ts';
import { createWasmBackend } from './wasm.ts';

export type BackendChoice = BackendName | 'auto';

const factories: Record<BackendName, () => Backend | Promise<Backend>> = {
  native: createNativeBackend,
  wasm: createWasmBackend,
  pure: createPureBackend,
};

/**
 * What `auto` tries, fastest first, as `npm run bench:crypto` measures on
 * x86-64: OpenSSL (AES-NI) far ahead, then the WebAssembly core, then pure JS.
 */
export const AUTO_ORDER: readonly BackendName[] = ['native', 'wasm', 'pure'];

const loaded = new Map<BackendName, Promise<Backend>>();
let defaultChoice: BackendChoice = 'auto';

function loadNamed(name: BackendName): Promise<Backend> {
  let backend = loaded.get(name);
  if (!backend) {
    backend = (async () => factories[name]())();
    loaded.set(name, backend);
    // A failed load may succeed later (e.g. a missing file restored); do not cache failures.
    backend.catch(() => loaded.delete(name));
  }
  return backend;
}

export async function loadBackend(choice: BackendChoice = 'auto'): Promise<Backend> {
  if (choice === 'auto') {
    let lastError: unknown;
    for (const name of AUTO_ORDER) {
      try {
        return await loadNamed(name);
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  }
  if (!Object.hasOwn(factories, choice)) {
    throw invalidArgument(`unknown backend ${JSON.stringify(choice)}; expected one of native, wasm, pure, auto`);
  }
  return loadNamed(choice);
}

/** Sets the backend used where no `backend` option is given. */
export function setDefaultBackend(choice: BackendChoice): void {
  if (choice !== 'auto' && !Object.hasOwn(factories, choice)) {
    throw invalidArgument(`unknown backend ${JSON.stringify(choice)}; expected one of native, wasm, pure, auto`);
  }
  defaultChoice = choice;
}

export function getDefaultBackendChoice(): BackendChoice {
  return defaultChoice;
}

/** Resolves an entry point's `backend` option: a loaded backend, a name, or the process default. */
export function resolveBackend(option?: Backend | BackendChoice): Promise<Backend> {
  if (option === undefined) return loadBackend(defaultChoice);
  if (typeof option === 'string') return loadBackend(option);
  return Promise.resolve(option);
}

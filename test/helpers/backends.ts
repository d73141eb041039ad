import { loadBackend } from '../../src/backend/index.ts';
import type { Backend, BackendName } from '../../src/backend/types.ts';

export const BACKEND_NAMES: readonly BackendName[] = ['native', 'wasm', 'pure'];

/** Every backend, loaded explicitly: a backend that fails to load fails the suite. */
export async function loadAllBackends(): Promise<Backend[]> {
  return Promise.all(BACKEND_NAMES.map((name) => loadBackend(name)));
}

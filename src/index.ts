export { ErrorCode, NetcryptError, isNetcryptError } from './errors.ts';
export type { Backend, BackendName, Envelope } from './backend/types.ts';
export { IV_BYTES, KEY_BYTES, TAG_BYTES } from './backend/types.ts';
export { type BackendChoice, loadBackend, setDefaultBackend, getDefaultBackendChoice } from './backend/index.ts';

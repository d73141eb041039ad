/** `netcrypt --version`: the version in package.json, which sits two levels up from both src/cli/ and dist/cli/. */

import { readFileSync } from 'node:fs';

export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

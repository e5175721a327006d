// Whether node-red was ever loaded into this process (the CommonJS module cache is
// process-wide): the tests that prove a gateway without flows never pays for it.
import { createRequire } from 'node:module';
import path from 'node:path';

export function nodeRedLoaded(): boolean {
  const cache = createRequire(import.meta.url).cache;
  return Object.keys(cache).some((k) => k.includes(`${path.sep}node-red${path.sep}lib${path.sep}red.js`));
}

// The product's own event types (video, audio, audit, radios, deploys) are all documented in
// docs/protocol.md, and every such type literal in the code is one of them.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AUDIO_EVENT_TYPES, VIDEO_EVENT_TYPES } from '../models/types.ts';

const root = path.resolve(import.meta.dirname, '..');
const doc = readFileSync(path.join(root, 'docs/protocol.md'), 'utf8');
const NAMESPACES = ['video', 'audio', 'audit', 'lora', 'modem', 'deploy'];

function section(title: string): string {
  const at = doc.indexOf(`## ${title}`);
  expect(at, `docs/protocol.md has a "## ${title}" section`).toBeGreaterThanOrEqual(0);
  const next = doc.indexOf('\n## ', at + 3);
  return doc.slice(at, next < 0 ? undefined : next);
}

const documented = () => [...section('Product event types').matchAll(/^\| `([a-z_]+\.[a-z_]+)` \|/gm)].map((m) => m[1]);

function sources(dir: string): string[] {
  return readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => path.join(dir, f));
}

describe('product event types', () => {
  it('the camera and sound types are documented', () => {
    for (const t of [...VIDEO_EVENT_TYPES, ...AUDIO_EVENT_TYPES]) expect(documented(), t).toContain(t);
  });

  it('every product-namespace event type literal in the code is documented, and each documented type is raised somewhere', () => {
    const literal = new RegExp(`type:\\s*'((?:${NAMESPACES.join('|')})\\.[a-z_]+)'`, 'g');
    const found = new Map<string, string>();
    for (const f of ['models', 'drivers', 'flows', 'provisioning'].flatMap(sources)) {
      for (const m of readFileSync(path.join(root, f), 'utf8').matchAll(literal)) found.set(m[1], f);
    }
    expect(found.size).toBeGreaterThan(5); // the grep still finds the emitters
    for (const [type, file] of found) expect(documented(), `${file} raises "${type}"`).toContain(type);
    const typed = new Set<string>([...found.keys(), ...VIDEO_EVENT_TYPES, ...AUDIO_EVENT_TYPES]);
    for (const t of documented()) expect(typed.has(t), `docs list "${t}" but nothing raises it`).toBe(true);
  });
});

// The protocol in prose (docs/protocol.md) and in code (protocol.ts) list the same event types,
// and every agent event type literal in the code is one of them.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT_EVENT_NAMESPACES, COMMAND_ERROR_CODES, EVENT_TYPES } from './protocol.ts';

const root = path.resolve(import.meta.dirname, '../..');
const doc = readFileSync(path.join(root, 'docs/protocol.md'), 'utf8');

function section(title: string): string {
  const at = doc.indexOf(`## ${title}`);
  expect(at, `docs/protocol.md has a "## ${title}" section`).toBeGreaterThanOrEqual(0);
  const next = doc.indexOf('\n## ', at + 3);
  return doc.slice(at, next < 0 ? undefined : next);
}

function sources(dir: string): string[] {
  return readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.includes('node_modules'))
    .map((f) => path.join(dir, f));
}

describe('protocol as code', () => {
  it('docs/protocol.md lists exactly the event types of EventPayloads', () => {
    const rows = [...section('Event types').matchAll(/^\| `([a-z_]+\.[a-z_]+)` \|/gm)].map((m) => m[1]);
    expect([...rows].sort()).toEqual([...EVENT_TYPES].sort());
  });

  it('every agent-namespace event type literal in the code is a known type', () => {
    const ns = AGENT_EVENT_NAMESPACES.join('|');
    const literal = new RegExp(`(?:type:\\s*|_EVENT\\s*=\\s*)['"]((?:${ns})\\.[a-z_]+)['"]`, 'g');
    const found = new Map<string, string>();
    for (const f of ['runtime', 'drivers', 'flows'].flatMap(sources)) {
      for (const m of readFileSync(path.join(root, f), 'utf8').matchAll(literal)) found.set(m[1], f);
    }
    expect(found.size).toBeGreaterThan(4); // the grep still finds the emitters
    for (const [type, file] of found) expect(EVENT_TYPES as readonly string[], `${file} emits "${type}"`).toContain(type);
  });

  it('the doc names every command error code the dispatcher answers with', () => {
    const text = section('Commands');
    for (const code of COMMAND_ERROR_CODES) expect(text, `code ${code}`).toContain(`\`${code}\``);
  });
});

describe('command topics', () => {
  it('a command name reads the same with dots or with topic levels (brokers that split on dots)', async () => {
    const { commandName, topicsFor } = await import('./protocol.ts');
    expect(topicsFor('wayside/v1', 'gw-1').cmdFilter).toBe('wayside/v1/gw-1/cmd/#');
    expect(commandName('flows.deploy')).toBe('flows.deploy');
    expect(commandName('flows/deploy')).toBe('flows.deploy');
    expect(commandName('health')).toBe('health');
  });
});

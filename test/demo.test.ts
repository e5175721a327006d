// The README's first command: the demo shows a simulated pole's summaries, an event, a health
// reply and the clean goodbye at the platform stand-in (embedded aedes broker), with no external
// server, and leaves no temporary folder behind.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { builtinDrivers } from '../drivers/index.ts';
import { createDriverRegistry } from '../runtime/drivers.ts';
import { runDemo } from '../runtime/demo.ts';
import { productServices } from '../main.ts';

describe('demo', () => {
  it('prints what the platform receives: summaries, an event, a health reply, the stopped state', async () => {
    const lines: string[] = [];
    const stamped: [number, string][] = [];
    const t0 = Date.now();
    const registry = createDriverRegistry(builtinDrivers());
    await runDemo({
      registry,
      services: (c) => productServices(c, registry),
      durationMs: 8000,
      print: (l) => (lines.push(l), stamped.push([Date.now() - t0, l])),
    });
    const text = lines.join('\n');
    expect(text).toMatch(/\[platform\] wayside\/v1\/pole-demo\/state: online=true/);
    expect(text).toMatch(/\[platform\] summary pole-sim\/pm25 5s n=\d+ mean=[\d.]+ µg\/m³/);
    expect(text).toMatch(/\[platform\] health reply: ok=true status=ok outbox\.depth=\d+ uplink\.connected=true/);
    expect(lines.at(-2)).toBe('[platform] wayside/v1/pole-demo/state: online=false reason=stopped');
    // A newcomer sees an event early: the README promises them.
    const event = stamped.find(([, l]) => /^\[platform\] event street\.noisy raise pole-sim\/noise_db /.test(l));
    expect(event, text).toBeDefined();
    expect(event![0]).toBeLessThan(15_000);

    const dir = /state in (\S+) \(removed at the end/.exec(text)?.[1];
    expect(dir).toBeDefined();
    expect(existsSync(dir!)).toBe(false);
  });
});

// The README's first command: the demo shows a simulated pole's summaries, a health reply and
// the clean goodbye at the platform stand-in (embedded aedes broker), with no external server.
import { describe, expect, it } from 'vitest';
import { builtinDrivers } from '../drivers/index.ts';
import { createDriverRegistry } from '../runtime/drivers.ts';
import { runDemo } from '../runtime/demo.ts';

describe('demo', () => {
  it('prints what the platform receives: summaries, a health reply, the stopped state', async () => {
    const lines: string[] = [];
    await runDemo({ registry: createDriverRegistry(builtinDrivers()), durationMs: 8000, print: (l) => lines.push(l) });
    const text = lines.join('\n');
    expect(text).toMatch(/\[platform\] wayside\/v1\/pole-demo\/state: online=true/);
    expect(text).toMatch(/\[platform\] summary pole-sim\/pm25 5s n=\d+ mean=[\d.]+ µg\/m³/);
    expect(text).toMatch(/\[platform\] health reply: ok=true status=ok outbox\.depth=\d+ uplink\.connected=true/);
    expect(lines.at(-2)).toBe('[platform] wayside/v1/pole-demo/state: online=false reason=stopped');
  });
});

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtinDrivers } from '../drivers/index.ts';
import { parseConfig } from '../runtime/config/index.ts';
import { createDriverRegistry } from '../runtime/drivers.ts';
import { createPolicy } from '../runtime/policy.ts';

describe('publish policy', () => {
  it('resolves point, device and default settings, and holds nothing per point it is asked about', () => {
    const config = parseConfig(
      `version: 1
gateway: { id: g }
uplink: { enabled: false }
defaults: { publish: summaries, window: 60s }
devices:
  - { id: pole, driver: sim, publish: both, window: 10s, perPoint: { pm25: { publish: raw } } }
`,
      path.join('/tmp', 'wayside.yaml'),
      createDriverRegistry(builtinDrivers()),
    );
    const policy = createPolicy(config);
    expect(policy('pole', 'pm25')).toEqual({ mode: 'raw', windowMs: 10_000 });
    expect(policy('pole', 'noise_db')).toEqual({ mode: 'both', windowMs: 10_000 });
    expect(policy('virtual', 'x')).toEqual({ mode: 'summaries', windowMs: 60_000 });
    // Made-up names (a flow) get the device's or the default settings object itself: no growth.
    const base = policy('pole', 'made-up-0');
    for (let i = 1; i < 10_000; i++) expect(policy('pole', `made-up-${i}`)).toBe(base);
    expect(policy('other-1', 'a')).toBe(policy('other-2', 'b'));
  });
});

// The `provisioning:` section of wayside.yaml (registered through the driver registry's
// `sections`, read with configSection(config, 'provisioning')). Every field has a default, so
// the section may be left out.
import { z } from 'zod';
import { section } from '../runtime/config/fields.ts';
import { configSection, duration, size, type WaysideConfig } from '../runtime/config/index.ts';
import { DEFAULT_VERIFY_LIMITS, type VerifyLimits } from './verify.ts';

export const provisioningSection = section({
  maxEnvelopeBytes: size('1KiB', '16MiB')
    .prefault('64KiB')
    .describe('largest signed command envelope; larger ones are refused "too_large" (the uplink.commands.maxRequestBytes cap applies first)'),
  clockSkew: duration('0s', '1h').prefault('30s').describe('how long past its exp an envelope is still accepted (platform and gateway clocks disagree)'),
  maxTtl: duration('1m', '30d').prefault('24h').describe('largest exp - now accepted while the gateway clock is trusted'),
})
  .prefault({})
  .describe('signed commands from the platform (docs/provisioning.md)');

export interface ProvisioningConfig {
  maxEnvelopeBytes: number;
  clockSkew: number;
  maxTtl: number;
}

/** The section's values as verifier limits (defaults when the section is not registered). */
export function provisioningLimits(config: WaysideConfig): VerifyLimits {
  const c = configSection<ProvisioningConfig>(config, 'provisioning');
  if (!c) return DEFAULT_VERIFY_LIMITS;
  return { maxEnvelopeBytes: c.maxEnvelopeBytes, clockSkewMs: c.clockSkew, maxTtlMs: c.maxTtl };
}

export type ProvisioningSectionInput = z.input<typeof provisioningSection>;

// The `status:` section of wayside.yaml: the local status page for the field technician (off
// unless configured). Technician accounts are bcrypt hashes of cost 10 or more, like the flows
// editor's; the loader refuses a plain password or a cheaper hash with file:line.
import { z } from 'zod';
import { bool, expected, section, text } from '../runtime/config/fields.ts';
import { configSection, duration, type WaysideConfig } from '../runtime/config/index.ts';
import { BCRYPT_MIN_COST } from '../runtime/config/schema.ts';

export const STATUS_SECTION = 'status';
/** Where the page is served on the agent's HTTP server. */
export const STATUS_PATH = '/status';

const bcryptCost = (hash: string): number => Number(hash.slice(4, 6));

export const statusSection = section({
  enabled: bool().default(false).describe('serve the status page (login required) at /status on the agent HTTP server (http.host, http.port)'),
  users: z
    .array(
      section({
        username: text().max(64),
        password: z
          .string({ error: expected('a bcrypt hash ("$2b$...") of the password') })
          .regex(/^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/, { error: (iss) => `expected a bcrypt hash ("$2b$..."), not a plain password (got a string of ${String(iss.input).length} characters)` })
          .refine((h) => bcryptCost(h) >= BCRYPT_MIN_COST && bcryptCost(h) <= 31, {
            error: (iss) => `expected a bcrypt hash of cost ${BCRYPT_MIN_COST}-31 (docs/technician.md), got cost ${bcryptCost(String(iss.input))}`,
          }),
      }),
      { error: expected('a list of users') },
    )
    .default([])
    .describe('technician accounts: { username, password: <bcrypt hash> }'),
  sessionTtl: duration('5m', '7d').prefault('12h').describe('how long a login lasts'),
})
  .superRefine((s, ctx) => {
    if (s.enabled && s.users.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['users'], message: 'expected at least one user while the status page is enabled (anonymous access is never allowed)' });
    }
    const seen = new Set<string>();
    s.users.forEach((u, i) => {
      if (seen.has(u.username)) ctx.addIssue({ code: 'custom', path: ['users', i, 'username'], message: `duplicate username "${u.username}"` });
      seen.add(u.username);
    });
  })
  .prefault({})
  .describe('the local status page for the field technician (docs/technician.md)');

export interface StatusConfig {
  enabled: boolean;
  users: { username: string; password: string }[];
  /** ms */
  sessionTtl: number;
}

/** The section as parsed; off when the product did not register it. */
export function statusConfig(config: WaysideConfig): StatusConfig {
  return configSection<StatusConfig>(config, STATUS_SECTION) ?? { enabled: false, users: [], sessionTtl: 12 * 3_600_000 };
}

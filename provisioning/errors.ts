// The error codes signed commands and enrollment answer with (besides the dispatcher's own
// `bad_request` and `too_large`). They reach the platform as `error.code` in the command response
// and appear as `code` in `audit.refused` events. docs/provisioning.md explains each.
import { CommandError } from '../runtime/uplink/commands.ts';

export const PROVISIONING_ERROR_CODES = [
  /** The request is not an envelope with a `sig`. */
  'unsigned',
  /** The signature does not verify against the pinned platform key, or the digest does not match the payload. */
  'bad_signature',
  /** `exp` (plus the allowed clock skew) is past, or the bundle is past its expiry. */
  'expired',
  /** This nonce was already accepted (within its expiry). */
  'replayed',
  /** `version` is not newer than the last accepted one for this command. */
  'stale_version',
  /** The envelope is addressed to another gateway. */
  'wrong_gateway',
  /** The envelope was signed for another command than the topic it came on. */
  'wrong_command',
  /** The gateway has no pinned platform key yet (`wayside provision` first). */
  'not_enrolled',
] as const;
export type ProvisioningErrorCode = (typeof PROVISIONING_ERROR_CODES)[number] | 'bad_request' | 'too_large';

/** A refusal with its code; a CommandError, so the dispatcher answers the code unchanged. */
export class ProvisioningError extends CommandError {
  declare readonly code: ProvisioningErrorCode;
  constructor(code: ProvisioningErrorCode, message: string) {
    super(code, message);
    this.name = 'ProvisioningError';
  }
}

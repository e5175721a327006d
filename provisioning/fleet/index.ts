// wayside-fleet as a library: the platform side of provisioning (keys, signing, the claim
// service, the broker ACL) for a platform written in TypeScript/JavaScript.
export { generatePlatformKey, loadPlatformKey, type PlatformKey } from './keys.ts';
export { makeBundle, signCommand, DEFAULT_BUNDLE_TTL_MS, type BundleSpec, type CommandToSign } from './sign.ts';
export { startClaimService, newClaimCode, claimExpiry, type ClaimEntry, type ClaimService, type ClaimServiceOptions } from './claim.ts';
export { fleetCli, FLEET_USAGE, type FleetIo } from './cli.ts';
export { mosquittoAcl, responseTopicFor, type AclOptions } from '../acl.ts';
export { canonicalJson, payloadDigest, signEnvelope, type Envelope } from '../envelope.ts';
export type { Bundle, BundlePayload, BrokerGrant, ClaimRequest, ClaimAnswer } from '../bundle.ts';

// wayside-fleet as a library: the platform side of provisioning (keys, signing, the claim
// service, the broker ACL, the fleet connection: gateways, commands, staged deploys) for a
// platform written in TypeScript/JavaScript.
export { generatePlatformKey, loadPlatformKey, type PlatformKey } from './keys.ts';
export { makeBundle, signCommand, DEFAULT_BUNDLE_TTL_MS, type BundleSpec, type CommandToSign } from './sign.ts';
export { startClaimService, newClaimCode, claimExpiry, type ClaimEntry, type ClaimService, type ClaimServiceOptions } from './claim.ts';
export { fleetCli, FLEET_USAGE, type FleetIo } from './cli.ts';
export { mosquittoAcl, responseTopicFor, type AclOptions } from '../acl.ts';
export { canonicalJson, payloadDigest, signEnvelope, type Envelope } from '../envelope.ts';
export type { Bundle, BundlePayload, BrokerGrant, ClaimRequest, ClaimAnswer } from '../bundle.ts';
export {
  connectFleet, SIGNED_COMMANDS,
  type Fleet, type FleetOptions, type Target, type GatewayInfo, type CommandResult, type DeployKind, type DeployOutcome, type DeployTally, type DeployOptions,
} from './fleet.ts';
export { planStages, runRollout, failureRate, tallyOf, type StagePlan, type Outcome, type RolloutResult } from './rollout.ts';

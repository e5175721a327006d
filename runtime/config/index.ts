// Public API of the config module: load and validate the operator's YAML file.
export { ConfigError, formatIssue, loadConfig, parseConfig, readConfig, type ConfigIssue, type DevicesCheck, type LoadOptions, type LoadResult } from './loader.ts';
export { stateDirProblem } from './dirs.ts';
export {
  configSchema,
  configSection,
  type ClockTrust,
  type DeviceConfig,
  type FlowsConfig,
  type FlowsUser,
  type PointChecks,
  type LogLevel,
  type OutboxConfig,
  type PointOverride,
  type PublishMode,
  type RuleConfig,
  type TlsConfig,
  type UplinkConfig,
  type WaysideConfig,
} from './schema.ts';
export { secret, type SecretInput } from './secrets.ts';
export { duration, formatDuration, formatSize, parseDuration, parseSize, size } from './units.ts';

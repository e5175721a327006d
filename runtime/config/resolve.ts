// Second pass over a file that passed the schema: checks that span fields (unique ids, rules
// naming real devices, url when the uplink is on), defaults that come from other fields,
// paths made absolute, secrets read. Problems carry the path into the file, so the loader
// can point at the line.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { DriverRegistry } from '../drivers.ts';
import { checkDevices, unknownPoint, type DevicesCheck } from './devices.ts';
import { stateDirProblem } from './dirs.ts';
import { MISSING } from './fields.ts';
import { brokerUrlProblem, hostProblem } from './net.ts';
import { resolveSecrets } from './secrets.ts';
import { POINT_REF_RE, type DeviceConfig, type RawConfig, type RuleConfig, type UplinkConfig, type WaysideConfig } from './schema.ts';
import { formatDuration } from './units.ts';

export interface Problem {
  path: (string | number)[];
  message: string;
}

export type { DevicesCheck } from './devices.ts';

export interface ResolveOptions {
  env: NodeJS.ProcessEnv;
  registry: DriverRegistry;
  checks?: DevicesCheck[];
  /** Look at the filesystem for gateway.stateDir (the CLI does; tests of fake paths do not). */
  checkStateDir?: boolean;
}

export function resolveConfig(raw: RawConfig, configDir: string, opts: ResolveOptions): { config: WaysideConfig; problems: Problem[] } {
  const problems: Problem[] = [];
  // Secrets first, while every value still sits at the path it has in the file.
  problems.push(...resolveSecrets(raw, opts.env, configDir));

  const stateDir = path.resolve(configDir, raw.gateway.stateDir);
  if (opts.checkStateDir) {
    const why = stateDirProblem(stateDir);
    if (why) problems.push({ path: ['gateway', 'stateDir'], message: why });
  }
  const devices = resolveDevices(raw, problems);
  const points = checkDevices(devices, opts.registry, opts.checks ?? [], problems);
  const rules = resolveRules(raw, new Set(devices.map((d) => d.id)), points, problems);
  const uplink = resolveUplink(raw, configDir, problems);
  const hostWhy = hostProblem(raw.http.host);
  if (hostWhy) problems.push({ path: ['http', 'host'], message: hostWhy });

  const config: WaysideConfig = {
    version: raw.version,
    gateway: { ...raw.gateway, stateDir },
    log: raw.log,
    http: raw.http,
    clock: raw.clock,
    outbox: { ...raw.outbox, path: path.resolve(stateDir, raw.outbox.path) },
    uplink,
    defaults: raw.defaults,
    devices,
    rules,
    flows: raw.flows,
    // The product services' own sections (registry.sections()), as their schemas parsed them.
    ...Object.fromEntries(Object.keys(opts.registry.sections()).map((k) => [k, (raw as unknown as Record<string, unknown>)[k]])),
  };
  if (raw.flows.editor.enabled && raw.flows.editor.users.length === 0) {
    problems.push({ path: ['flows', 'editor', 'users'], message: 'expected at least one user while the editor is enabled (anonymous access is never allowed)' });
  }
  // Node-RED (its editor and HTTP-in nodes) is served by the agent's HTTP server.
  if (!raw.http.enabled && (raw.flows.enabled === true || raw.flows.editor.enabled)) {
    const at = raw.flows.editor.enabled ? ['flows', 'editor', 'enabled'] : ['flows', 'enabled'];
    problems.push({ path: at, message: 'needs the HTTP server: set http.enabled: true (or turn flows off)' });
  }
  return { config, problems };
}

function resolveDevices(raw: RawConfig, problems: Problem[]): DeviceConfig[] {
  const seen = new Map<string, number>();
  return raw.devices.map((d, i) => {
    const first = seen.get(d.id);
    if (first !== undefined) problems.push({ path: ['devices', i, 'id'], message: `duplicate device id "${d.id}" (also devices[${first}])` });
    else seen.set(d.id, i);
    const publish = d.publish ?? raw.defaults.publish;
    const window = d.window ?? raw.defaults.window;
    const perPoint: DeviceConfig['perPoint'] = {};
    for (const [point, o] of Object.entries(d.perPoint ?? {})) {
      perPoint[point] = { publish: o.publish ?? publish, window: o.window ?? window, ...(o.checks ? { checks: o.checks } : {}) };
      if (o.checks?.min !== undefined && o.checks.max !== undefined && o.checks.min >= o.checks.max) {
        problems.push({ path: ['devices', i, 'perPoint', point, 'checks', 'max'], message: `expected a number above checks.min (${o.checks.min}), got ${o.checks.max}` });
      }
    }
    return { ...d, publish, window, offlineAfter: d.offlineAfter ?? raw.defaults.offlineAfter, perPoint };
  });
}

function resolveRules(raw: RawConfig, deviceIds: Set<string>, points: Map<string, string[]>, problems: Problem[]): RuleConfig[] {
  const seen = new Map<string, number>();
  return raw.rules.map((r, i) => {
    const at = ['rules', i];
    const device = POINT_REF_RE.exec(r.point)?.[1] ?? '';
    if (!deviceIds.has(device)) {
      const known = deviceIds.size ? [...deviceIds].join(', ') : 'none';
      problems.push({ path: [...at, 'point'], message: `unknown device "${device}" in "${r.point}" (devices: ${known})` });
    } else {
      const point = r.point.slice(device.length + 1);
      const names = points.get(device);
      if (names && !names.includes(point)) problems.push({ path: [...at, 'point'], message: unknownPoint(point, device, names) });
    }
    if (r.above === undefined && r.below === undefined) problems.push({ path: at, message: 'expected at least one of "above" or "below"' });
    if (r.above !== undefined && r.below !== undefined && r.below >= r.above) {
      problems.push({ path: [...at, 'below'], message: `expected a number below "above" (${r.above}), got ${r.below}` });
    } else if (r.above !== undefined && r.below !== undefined && r.below + r.hysteresis >= r.above - r.hysteresis) {
      // The raise and clear bands overlap: a value could never clear (rules.ts asserts this).
      const most = (r.above - r.below) / 2;
      problems.push({
        path: [...at, 'hysteresis'],
        message: `expected less than half the gap between below (${r.below}) and above (${r.above}), i.e. under ${most}, got ${r.hysteresis}`,
      });
    }
    const kind = r.above !== undefined && r.below !== undefined ? 'outside' : r.above !== undefined ? 'above' : 'below';
    const id = r.id ?? `${r.point}:${kind}`;
    const first = seen.get(id);
    if (first !== undefined) {
      const hint = r.id === undefined ? '; give the rules distinct "id"s' : '';
      problems.push({ path: r.id === undefined ? at : [...at, 'id'], message: `duplicate rule id "${id}" (also rules[${first}])${hint}` });
    } else seen.set(id, i);
    return { ...r, id };
  });
}

function resolveUplink(raw: RawConfig, configDir: string, problems: Problem[]): UplinkConfig {
  const { url, enabled, tls, reconnect, ...rest } = raw.uplink;
  const at = ['uplink'];
  if (reconnect.min > reconnect.max) {
    problems.push({
      path: [...at, 'reconnect', 'min'],
      message: `expected at most reconnect.max (${formatDuration(reconnect.max)}), got ${formatDuration(reconnect.min)}`,
    });
  }
  let resolvedTls: UplinkConfig['tls'];
  if (tls) {
    resolvedTls = { ...tls };
    for (const k of ['ca', 'cert', 'key'] as const) {
      const p = tls[k];
      if (p === undefined) continue;
      const abs = path.resolve(configDir, p);
      if (!existsSync(abs)) problems.push({ path: [...at, 'tls', k], message: `file ${abs} does not exist` });
      resolvedTls[k] = abs;
    }
  }
  const common = { ...rest, reconnect, clientId: rest.clientId ?? raw.gateway.id, ...(resolvedTls ? { tls: resolvedTls } : {}) };
  const urlWhy = url === undefined ? undefined : brokerUrlProblem(url);
  if (urlWhy) problems.push({ path: [...at, 'url'], message: urlWhy });
  if (!enabled) return { ...common, enabled: false, url };
  if (url === undefined) {
    problems.push({ path: [...at, 'url'], message: `${MISSING} (needed while uplink.enabled is true)` });
    return { ...common, enabled: true, url: '' };
  }
  return { ...common, enabled: true, url };
}

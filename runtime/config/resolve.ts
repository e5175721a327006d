// Second pass over a file that passed the schema: checks that span fields (unique ids, rules
// naming real devices, url when the uplink is on), defaults that come from other fields,
// paths made absolute, secrets read. Problems carry the path into the file, so the loader
// can point at the line.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { MISSING } from './fields.ts';
import { resolveSecrets } from './secrets.ts';
import { POINT_REF_RE, type DeviceConfig, type RawConfig, type RuleConfig, type UplinkConfig, type WaysideConfig } from './schema.ts';
import { formatDuration } from './units.ts';

export interface Problem {
  path: (string | number)[];
  message: string;
}

export function resolveConfig(raw: RawConfig, configDir: string, env: NodeJS.ProcessEnv): { config: WaysideConfig; problems: Problem[] } {
  const problems: Problem[] = [];
  // Secrets first, while every value still sits at the path it has in the file.
  problems.push(...resolveSecrets(raw, env, configDir));

  const stateDir = path.resolve(configDir, raw.gateway.stateDir);
  const devices = resolveDevices(raw, problems);
  const rules = resolveRules(raw, new Set(devices.map((d) => d.id)), problems);
  const uplink = resolveUplink(raw, configDir, problems);

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
  };
  if (raw.flows.editor.enabled && raw.flows.editor.users.length === 0) {
    problems.push({ path: ['flows', 'editor', 'users'], message: 'expected at least one user while the editor is enabled (anonymous access is never allowed)' });
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

function resolveRules(raw: RawConfig, deviceIds: Set<string>, problems: Problem[]): RuleConfig[] {
  const seen = new Map<string, number>();
  return raw.rules.map((r, i) => {
    const at = ['rules', i];
    const device = POINT_REF_RE.exec(r.point)?.[1] ?? '';
    if (!deviceIds.has(device)) {
      const known = deviceIds.size ? [...deviceIds].join(', ') : 'none';
      problems.push({ path: [...at, 'point'], message: `unknown device "${device}" in "${r.point}" (devices: ${known})` });
    }
    if (r.above === undefined && r.below === undefined) problems.push({ path: at, message: 'expected at least one of "above" or "below"' });
    if (r.above !== undefined && r.below !== undefined && r.below >= r.above) {
      problems.push({ path: [...at, 'below'], message: `expected a number below "above" (${r.above}), got ${r.below}` });
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
  if (!enabled) return { ...common, enabled: false, url };
  if (url === undefined) {
    problems.push({ path: [...at, 'url'], message: `${MISSING} (needed while uplink.enabled is true)` });
    return { ...common, enabled: true, url: '' };
  }
  return { ...common, enabled: true, url };
}

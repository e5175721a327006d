// Agent and device health: one snapshot function used by GET /healthz, the MQTT `health`
// command and the Prometheus collector, so the three never disagree.
import { statfsSync } from 'node:fs';
import os from 'node:os';
import type { FlowsHealth } from '../flows/host.ts';
import type { Clock, DeviceHealth, OutboxStats } from './types.ts';

export interface UplinkHealth {
  enabled: boolean;
  connected: boolean;
  since?: number;
  lastError?: string;
  reconnects?: number;
  inflight?: number;
  sent?: number;
  acked?: number;
  lastAckTs?: number;
}

export interface AgentHealth {
  v: 1;
  gateway: string;
  status: 'ok' | 'degraded';
  /** Why status is degraded; empty when ok. */
  problems: string[];
  ts: number;
  uptimeS: number;
  versions: { wayside: string; node: string; protocol: 1 };
  system: {
    cpuPct: number;
    rssBytes: number;
    heapUsedBytes: number;
    load1: number;
    memTotalBytes: number;
    memFreeBytes: number;
    disk?: { path: string; totalBytes: number; freeBytes: number };
  };
  clock: { trusted: boolean };
  outbox: OutboxStats;
  uplink: UplinkHealth;
  devices: DeviceHealth[];
  bus: { listenerErrors: number };
  /** Embedded Node-RED, when loaded (flows/host.ts). */
  flows?: Partial<FlowsHealth> & { state: string; lastError?: string };
}

export interface HealthSources {
  gateway: string;
  version: string;
  stateDir: string;
  clock: Clock;
  outbox: () => OutboxStats;
  uplink: () => UplinkHealth;
  devices: () => DeviceHealth[];
  busErrors: () => number;
  flows?: () => AgentHealth['flows'];
}

export function createHealth(src: HealthSources): { snapshot(): AgentHealth } {
  const started = src.clock.mono();
  // CPU % of one core since the previous snapshot (or since start).
  let lastCpu = process.cpuUsage();
  let lastMono = started;
  let lastPct = 0;

  const cpuPct = () => {
    const now = src.clock.mono();
    const elapsedMs = now - lastMono;
    if (elapsedMs >= 500) {
      const used = process.cpuUsage(lastCpu);
      lastPct = ((used.user + used.system) / 1000 / elapsedMs) * 100;
      lastCpu = process.cpuUsage();
      lastMono = now;
    }
    return Math.round(lastPct * 100) / 100;
  };

  const disk = () => {
    try {
      const s = statfsSync(src.stateDir);
      return { path: src.stateDir, totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
    } catch {
      return undefined;
    }
  };

  return {
    snapshot() {
      const mem = process.memoryUsage();
      const outbox = src.outbox();
      const uplink = src.uplink();
      const devices = src.devices();
      const problems: string[] = [];
      if (uplink.enabled && !uplink.connected) problems.push('uplink disconnected');
      if (outbox.diskFull) problems.push('outbox disk full');
      const flows = src.flows?.();
      if (flows && flows.state !== 'running') problems.push(`flows ${flows.state}${flows.lastError ? ': ' + flows.lastError : ''}`);
      if (flows?.unknownTypes?.length) problems.push(`flows use unknown node types: ${flows.unknownTypes.join(', ')}`);
      for (const d of devices) if (d.state === 'offline' || d.state === 'degraded') problems.push(`device ${d.device} ${d.state}`);
      return {
        v: 1,
        gateway: src.gateway,
        status: problems.length ? 'degraded' : 'ok',
        problems,
        ts: src.clock.now(),
        uptimeS: Math.round((src.clock.mono() - started) / 1000),
        versions: { wayside: src.version, node: process.versions.node, protocol: 1 },
        system: {
          cpuPct: cpuPct(),
          rssBytes: mem.rss,
          heapUsedBytes: mem.heapUsed,
          load1: os.loadavg()[0],
          memTotalBytes: os.totalmem(),
          memFreeBytes: os.freemem(),
          disk: disk(),
        },
        clock: { trusted: src.clock.trusted() },
        outbox,
        uplink,
        devices,
        bus: { listenerErrors: src.busErrors() },
        ...(flows ? { flows } : {}),
      };
    },
  };
}

// Agent health: one snapshot function used by GET /healthz, the MQTT `health` command and the
// Prometheus exposition, so the three never disagree. The framework's own parts (system, clock,
// event loop, outbox, uplink) have fixed fields; every service adds one named section it owns
// (devices, flows, ...) and its problems, without this file knowing the section's fields.
import { statfsSync } from 'node:fs';
import os from 'node:os';
import type { LoopDelay } from './loop.ts';
import type { ServiceHealth } from './service.ts';
import type { Clock, DeviceHealth, OutboxStats } from './types.ts';

export interface UplinkHealth {
  enabled: boolean;
  connected: boolean;
  since?: number;
  lastError?: string;
  [field: string]: unknown;
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
    /** CPU seconds (user + system) since the process started. */
    cpuSeconds: number;
    rssBytes: number;
    heapUsedBytes: number;
    load1: number;
    memTotalBytes: number;
    memFreeBytes: number;
    disk?: { path: string; totalBytes: number; freeBytes: number };
  };
  clock: { trusted: boolean };
  /** Event-loop delay over the last window: a stalled loop delays field-bus timers and keepalive. */
  loop: LoopDelay;
  outbox: OutboxStats;
  uplink: UplinkHealth;
  /** The devices service's section (every driver family); empty when no devices service runs. */
  devices: DeviceHealth[];
  bus: { listenerErrors: number };
  /** One section per service, under the service's name (flows, ...); their fields are theirs. */
  [section: string]: any;
}

export interface HealthSources {
  gateway: string;
  version: string;
  stateDir: string;
  clock: Clock;
  loop: () => LoopDelay;
  outbox: () => OutboxStats;
  uplink: () => UplinkHealth;
  busErrors: () => number;
  /** Sections by service name (in start order). A section that throws is reported, not fatal. */
  sections: () => { name: string; health: () => ServiceHealth }[];
  /** Problems the agent itself knows of (a service that failed to start). */
  problems?: () => string[];
}

/** Sections a service may not take: they belong to the framework. */
export const RESERVED_SECTIONS = new Set(['v', 'gateway', 'status', 'problems', 'ts', 'uptimeS', 'versions', 'system', 'clock', 'loop', 'outbox', 'uplink', 'bus']);

export function createHealth(src: HealthSources): { snapshot(): AgentHealth } {
  const started = src.clock.mono();
  // CPU % of one core since the previous snapshot (or since start): the first read is meaningful.
  let lastCpu = process.cpuUsage();
  let lastMono = started;
  let lastPct: number | undefined;

  const cpuPct = () => {
    const now = src.clock.mono();
    const elapsedMs = now - lastMono;
    if (elapsedMs >= 500 || lastPct === undefined) {
      const used = process.cpuUsage(lastCpu);
      lastPct = elapsedMs > 0 ? ((used.user + used.system) / 1000 / elapsedMs) * 100 : 0;
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
      const cpu = process.cpuUsage();
      const outbox = src.outbox();
      const uplink = src.uplink();
      const problems: string[] = [...(src.problems?.() ?? [])];
      if (uplink.enabled && !uplink.connected) problems.push('uplink disconnected');
      const dup = uplink.duplicateId as { reason?: string } | undefined;
      if (dup) problems.push(`uplink: another client uses this gateway's client id (${dup.reason ?? 'session taken over'})`);
      if (outbox.diskFull) problems.push('outbox disk full');
      if (outbox.setAside > 0) problems.push(`outbox set ${outbox.setAside} record(s) the platform refused aside (dead letter)`);
      const sections: Record<string, unknown> = {};
      for (const s of src.sections()) {
        try {
          const h = s.health();
          if (h.section !== undefined) sections[s.name] = h.section;
          problems.push(...h.problems);
        } catch (err) {
          problems.push(`${s.name} health failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
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
          cpuSeconds: Math.round((cpu.user + cpu.system) / 1e3) / 1e3,
          rssBytes: mem.rss,
          heapUsedBytes: mem.heapUsed,
          load1: os.loadavg()[0],
          memTotalBytes: os.totalmem(),
          memFreeBytes: os.freemem(),
          disk: disk(),
        },
        clock: { trusted: src.clock.trusted() },
        loop: src.loop(),
        outbox,
        uplink,
        bus: { listenerErrors: src.busErrors() },
        devices: [],
        ...sections,
      };
    },
  };
}

// Prometheus text exposition of the health snapshot, so /metrics and /healthz never disagree.
// Written by hand (the format is small): no collector starts at first scrape, so the first
// scrape already reports the process since start (CPU seconds, loop delay since agent start).
// Counters end in `_total` and are typed counter; levels are gauges.
import type { AgentHealth } from './health.ts';
import type { ServiceMetric } from './service.ts';
import type { DeviceHealth } from './types.ts';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Labels = Record<string, string>;
type Sample = [Labels, number];

export interface Metrics {
  contentType: string;
  text(): Promise<string>;
}

export function createMetrics(snapshot: () => AgentHealth, extra: () => ServiceMetric[] = () => []): Metrics {
  return { contentType: METRICS_CONTENT_TYPE, text: async () => exposition(snapshot(), extra()) };
}

export function exposition(h: AgentHealth, extra: ServiceMetric[] = []): string {
  const out: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, samples: Sample[] | number | undefined) => {
    const list: Sample[] = typeof samples === 'number' ? [[{}, samples]] : (samples ?? []);
    out.push(`# HELP wayside_${name} ${help}`, `# TYPE wayside_${name} ${type}`);
    for (const [labels, v] of list) if (Number.isFinite(v)) out.push(`wayside_${name}${fmtLabels(labels)} ${v}`);
  };
  const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

  metric('status_degraded', 'gauge', '1 when the agent reports degraded status', h.status === 'degraded' ? 1 : 0);
  metric('process_cpu_seconds_total', 'counter', 'user + system CPU seconds since the process started', h.system.cpuSeconds);
  metric('process_resident_memory_bytes', 'gauge', 'resident set size', h.system.rssBytes);
  metric('process_heap_used_bytes', 'gauge', 'V8 heap in use', h.system.heapUsedBytes);
  metric('event_loop_delay_seconds', 'gauge', 'event-loop delay over the last window', [
    [{ quantile: '0.5' }, h.loop.p50Ms / 1000],
    [{ quantile: '0.99' }, h.loop.p99Ms / 1000],
    [{ quantile: '1' }, h.loop.maxMs / 1000],
  ]);
  if (h.system.disk) metric('state_disk_free_bytes', 'gauge', 'free bytes on the state directory file system', h.system.disk.freeBytes);

  const u = h.uplink;
  metric('uplink_connected', 'gauge', '1 when the MQTT uplink is connected', u.connected ? 1 : 0);
  metric('uplink_reconnects_total', 'counter', 'connections re-established after a loss', num(u.reconnects));
  metric('uplink_connect_failures_total', 'counter', 'connection attempts that failed', num(u.connectFailures));
  metric('uplink_sent_records_total', 'counter', 'records published (resends count again)', num(u.sent));
  metric('uplink_acked_records_total', 'counter', 'records acknowledged by the broker', num(u.acked));
  metric('uplink_duplicate_id', 'gauge', '1 while another client takes this gateway\'s MQTT session over', u.duplicateId ? 1 : 0);
  metric('uplink_log_lines_suppressed_total', 'counter', 'uplink log lines held back by the rate limit', num(u.logsSuppressed));
  const c = (u.commands ?? {}) as Record<string, unknown>;
  for (const k of ['received', 'ok', 'failed', 'refused', 'busy', 'timeouts'] as const) {
    metric(`uplink_commands_${k}_total`, 'counter', `platform commands ${k === 'received' ? 'received' : `that ended ${k}`}`, num(c[k]));
  }
  metric('uplink_commands_abandoned', 'gauge', 'command handlers still running after their timeout', num(c.abandoned));

  const o = h.outbox;
  metric('outbox_depth_records', 'gauge', 'records waiting in the outbox', o.depth);
  metric('outbox_bytes', 'gauge', 'bytes of records waiting in the outbox', o.bytes);
  metric('outbox_oldest_age_seconds', 'gauge', 'age of the oldest waiting record', o.oldestAgeMs / 1000);
  metric('outbox_dropped_records_total', 'counter', 'records dropped by the outbox, by reason', Object.entries(o.droppedByReason).map(([reason, n]) => [{ reason }, n]));
  metric('outbox_disk_full', 'gauge', '1 while the disk refuses outbox writes', o.diskFull ? 1 : 0);
  metric('outbox_file_bytes', 'gauge', 'database + WAL file size', o.fileBytes);
  metric('outbox_appended_records_total', 'counter', 'records appended since start', o.appended);
  metric('outbox_acked_records_total', 'counter', 'records acknowledged and removed since start', o.acked);
  metric('outbox_set_aside_records', 'gauge', 'records in the dead-letter table (refused by the platform, never sent again)', o.setAside);
  metric('outbox_fs_free_bytes', 'gauge', 'free bytes on the outbox file system', o.fsFreeBytes);
  metric('outbox_reserve_held', 'gauge', '1 while the reserve file is held (0: released on a full disk, or none)', o.reserve === 'held' ? 1 : 0);

  const devices: DeviceHealth[] = Array.isArray(h.devices) ? h.devices : [];
  const per = (f: (d: DeviceHealth) => number | undefined): Sample[] =>
    devices.flatMap((d) => {
      const v = f(d);
      return v === undefined ? [] : [[{ device: d.device, driver: d.driver }, v] as Sample];
    });
  metric('device_up', 'gauge', '1 when the device is online', per((d) => (d.state === 'online' ? 1 : 0)));
  metric('device_state', 'gauge', '1 for the state the device is in', devices.map((d) => [{ device: d.device, driver: d.driver, state: d.state }, 1]));
  metric('device_quality_faults', 'gauge', 'active data-quality faults of the device', per((d) => d.quality?.length ?? 0));
  metric('device_errors_total', 'counter', 'device communication errors since start', per((d) => d.errors));
  metric(
    'device_errors_by_kind_total',
    'counter',
    'device communication errors since start, by kind',
    devices.flatMap((d) => Object.entries(d.errorsByKind ?? {}).map(([kind, n]) => [{ device: d.device, driver: d.driver, kind }, n] as Sample)),
  );
  metric('device_readings_total', 'counter', 'readings produced since start', per((d) => d.readings));
  metric('device_last_reading_timestamp_seconds', 'gauge', 'wall time of the last reading', per((d) => (d.lastReadingTs ? d.lastReadingTs / 1000 : undefined)));
  for (const m of extra) metric(m.name, m.type, m.help, m.samples);
  return out.join('\n') + '\n';
}

function fmtLabels(l: Labels): string {
  const keys = Object.keys(l);
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${l[k].replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`).join(',')}}`;
}

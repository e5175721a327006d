// Prometheus exposition of the health snapshot (prom-client). Gauges are filled at scrape
// time from the same snapshot as /healthz, so nothing is counted twice. prom-client is loaded
// on the first scrape: a gateway nobody scrapes does not carry its ~6 MB.
import type { AgentHealth } from './health.ts';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export function createMetrics(snapshot: () => AgentHealth): { contentType: string; text(): Promise<string> } {
  let exporter: Promise<() => Promise<string>> | undefined;
  return {
    contentType: METRICS_CONTENT_TYPE,
    text: async () => (await (exporter ??= createExporter(snapshot)))(),
  };
}

async function createExporter(snapshot: () => AgentHealth): Promise<() => Promise<string>> {
  const { collectDefaultMetrics, Gauge, Registry } = await import('prom-client');
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'wayside_' });
  const g = (name: string, help: string, labelNames: string[] = []) =>
    new Gauge({ name: `wayside_${name}`, help, labelNames, registers: [registry] });

  const up = g('uplink_connected', '1 when the MQTT uplink is connected');
  const reconnects = g('uplink_reconnects', 'uplink reconnects since start');
  const sent = g('uplink_sent_records', 'records published since start');
  const acked = g('uplink_acked_records', 'records acknowledged by the broker since start');
  const depth = g('outbox_depth_records', 'records waiting in the outbox');
  const bytes = g('outbox_bytes', 'bytes of records waiting in the outbox');
  const oldest = g('outbox_oldest_age_seconds', 'age of the oldest waiting record');
  const dropped = g('outbox_dropped_records', 'records dropped by the outbox, by reason', ['reason']);
  const diskFull = g('outbox_disk_full', '1 while the disk refuses outbox writes');
  const fileBytes = g('outbox_file_bytes', 'database + WAL file size');
  const degraded = g('status_degraded', '1 when the agent reports degraded status');
  const devState = g('device_up', '1 when the device is online', ['device', 'driver']);
  const devStateName = g('device_state', '1 for the state the device is in', ['device', 'driver', 'state']);
  const devErrorsByKind = g('device_errors_by_kind', 'device communication errors since start, by kind', ['device', 'driver', 'kind']);
  const devQuality = g('device_quality_faults', 'active data-quality faults of the device', ['device', 'driver']);
  const devErrors = g('device_errors', 'device communication errors since start', ['device', 'driver']);
  const devReadings = g('device_readings', 'readings produced since start', ['device', 'driver']);
  const devLast = g('device_last_reading_timestamp_seconds', 'wall time of the last reading', ['device', 'driver']);

  return async () => {
    const h = snapshot();
    up.set(h.uplink.connected ? 1 : 0);
    reconnects.set(h.uplink.reconnects ?? 0);
    sent.set(h.uplink.sent ?? 0);
    acked.set(h.uplink.acked ?? 0);
    depth.set(h.outbox.depth);
    bytes.set(h.outbox.bytes);
    oldest.set(h.outbox.oldestAgeMs / 1000);
    dropped.reset();
    for (const [reason, n] of Object.entries(h.outbox.droppedByReason)) dropped.set({ reason }, n);
    diskFull.set(h.outbox.diskFull ? 1 : 0);
    fileBytes.set(h.outbox.fileBytes);
    degraded.set(h.status === 'degraded' ? 1 : 0);
    for (const gauge of [devState, devStateName, devErrorsByKind, devQuality, devErrors, devReadings, devLast]) gauge.reset();
    for (const d of h.devices) {
      const l = { device: d.device, driver: d.driver };
      devState.set(l, d.state === 'online' ? 1 : 0);
      devStateName.set({ ...l, state: d.state }, 1);
      devQuality.set(l, d.quality?.length ?? 0);
      for (const [kind, n] of Object.entries(d.errorsByKind ?? {})) devErrorsByKind.set({ ...l, kind }, n);
      devErrors.set(l, d.errors);
      devReadings.set(l, d.readings);
      if (d.lastReadingTs) devLast.set(l, d.lastReadingTs / 1000);
    }
    return registry.metrics();
  };
}

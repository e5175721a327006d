// The `lora` family: schema, checks across sensors and points now; the implementation (UDP
// listener, lora-packet, MQTT, codecs) on the first configured sensor. The listeners and
// ChirpStack clients are shared per agent: each loraFamily() call (one per agent, from
// builtinDrivers) has its own registries, so sensors with one `listen` share one socket.
import type { DeviceIssue, PointInfo } from '../../runtime/drivers.ts';
import { defineFamily } from '../common/family.ts';
import type { CodecLoader } from './codec-loader.ts';
import { checkLora, LORA_DESCRIPTION, loraSchema, RADIO_POINTS, type LoraConfig } from './schema.ts';

export interface LoraFamilyOptions {
  /** Codec factory; default: loadCodec of drivers/lora/codecs (Cayenne LPP, sandboxed JavaScript) with one worker host per family. */
  loadCodec?: CodecLoader;
  /** How long a PULL_RESP waits for its TX_ACK (tests). */
  txAckTimeoutMs?: number;
}

/** The points a sensor has: its configured codec fields, the radio's, and `payload` without a codec. */
export function loraPoints(d: LoraConfig): PointInfo[] | undefined {
  const radio: PointInfo[] = Object.entries(RADIO_POINTS).map(([name, unit]) => ({
    name, type: 'number', writable: false, ...(unit !== undefined && { unit }),
    description: name === 'sf' ? 'spreading factor of the last uplink' : `${name.startsWith('rssi') ? 'RSSI' : 'SNR'} of the last uplink at the best gateway`,
  }));
  const down: PointInfo = { name: 'downlink', type: 'string', writable: true, description: 'raw downlink: write { bytes: "<hex>", fPort: <1-223> }' };
  if (!d.codec) return [...radio, { name: 'payload', type: 'string', writable: false, description: 'FRMPayload as hex (no codec configured)' }, down];
  const names = Object.keys(d.points);
  // A codec without a point list: any field name goes (the driver cannot tell them in advance).
  if (names.length === 0) return undefined;
  return [
    ...names.map((name) => {
      const p = d.points[name];
      return { name, type: p.type, writable: p.writable, ...(p.unit !== undefined && { unit: p.unit }), ...(p.description !== undefined && { description: p.description }) };
    }),
    ...radio,
    down,
  ];
}

/** Two sensors with one DevEUI, or one DevAddr, on one listener (or one ChirpStack): config errors with paths. */
export function checkLoraDevices(devices: { index: number; device: LoraConfig }[]): (DeviceIssue & { index: number })[] {
  const issues: (DeviceIssue & { index: number })[] = [];
  const seenEui = new Map<string, string>();
  const seenAddr = new Map<string, string>();
  for (const { index, device: d } of devices) {
    const where = d.source === 'chirpstack' ? `ChirpStack ${d.chirpstack?.url}` : `listener ${d.listen}`;
    const euiKey = `${where}|${d.devEui}`;
    const other = seenEui.get(euiKey);
    if (other) issues.push({ index, path: ['devEui'], message: `DevEUI ${d.devEui} is already used by device "${other}" on ${where}` });
    else seenEui.set(euiKey, d.id);
    if (d.source === 'semtech' && d.mode === 'abp' && d.devAddr) {
      const addrKey = `${where}|${d.devAddr}`;
      const o = seenAddr.get(addrKey);
      if (o) issues.push({ index, path: ['devAddr'], message: `DevAddr ${d.devAddr} is already used by device "${o}" on ${where}` });
      else seenAddr.set(addrKey, d.id);
    }
  }
  return issues;
}

export function loraFamily(opts: LoraFamilyOptions = {}) {
  return defineFamily({
    name: 'lora',
    description: LORA_DESCRIPTION,
    schema: loraSchema,
    check: checkLora,
    checkAll: checkLoraDevices,
    points: loraPoints,
    async load() {
      const [{ createLoraDriver }, { createListenerRegistry }, { createChirpstackRegistry }, { createCodecLoader }] = await Promise.all([
        import('./device.ts'), import('./network.ts'), import('./chirpstack.ts'), import('./codec-loader.ts'),
      ]);
      const deps = {
        listeners: createListenerRegistry({ ...(opts.txAckTimeoutMs !== undefined && { txAckTimeoutMs: opts.txAckTimeoutMs }) }),
        chirpstack: createChirpstackRegistry(),
        loadCodec: opts.loadCodec ?? createCodecLoader(),
      };
      return (device, ctx) => createLoraDriver(device, ctx, deps);
    },
  });
}

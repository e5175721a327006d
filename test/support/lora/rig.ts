// Builds lora sensors the way the agent does (loraFamily's definition, config through the
// schema) on a loopback listener with a port of the kernel's choosing, a recording ctx and,
// when asked, a state directory in a temp dir. Codec: the stand-in of codec.ts, or the real ones.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DriverDefinition } from '../../../runtime/drivers.ts';
import { stateDir } from '../../../runtime/state.ts';
import type { Driver } from '../../../runtime/types.ts';
import { loraFamily } from '../../../drivers/lora/definition.ts';
import type { LoraDriver } from '../../../drivers/lora/device.ts';
import { loraSchema } from '../../../drivers/lora/schema.ts';
import { recordingCtx, type Recorded } from '../drivers/ctx.ts';
import { standInCodec } from './codec.ts';

export const NWK = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex');
export const APP = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
export const APPKEY = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
export const LISTEN = 'udp://127.0.0.1:0';

export type Sensor = LoraDriver & Driver;

export interface Rig extends Recorded {
  def: DriverDefinition;
  codecs: ReturnType<typeof standInCodec>[];
  /** A sensor from config fields (devEui and keys given by the test). `stateRoot` gives it ctx.state. */
  sensor(id: string, fields: Record<string, unknown>): Promise<Sensor>;
  port(s: Sensor): number;
  dir: string;
  close(): Promise<void>;
}

/** `realCodecs`: the agent's own codecs (drivers/lora/codecs: Cayenne LPP, the JavaScript codec worker) instead of the stand-in. */
export function createRig(opts: { durable?: boolean; txAckTimeoutMs?: number; dir?: string; realCodecs?: boolean } = {}): Rig {
  const rec = recordingCtx();
  const codecs: ReturnType<typeof standInCodec>[] = [];
  const def = loraFamily({
    ...(!opts.realCodecs && {
      loadCodec: () => {
        const c = standInCodec();
        codecs.push(c);
        return c;
      },
    }),
    ...(opts.txAckTimeoutMs !== undefined && { txAckTimeoutMs: opts.txAckTimeoutMs }),
  });
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'lora-'));
  const made: Sensor[] = [];
  return {
    ...rec,
    def,
    codecs,
    dir,
    async sensor(id, fields) {
      const cfg = { id, driver: 'lora', ...loraSchema.parse({ listen: LISTEN, codec: 'cayenne', ...fields }) };
      if (fields.codec === 'none') delete (cfg as { codec?: unknown }).codec;
      const ctx = { ...rec.ctx, log: rec.ctx.log, ...(opts.durable && { state: stateDir(join(dir, 'devices', id)) }) };
      const s = (await def.create(cfg, ctx)) as Sensor;
      made.push(s);
      return s;
    },
    port: (s) => Number(s.health().lora.listener!.address!.split(':').pop()),
    async close() {
      for (const s of made) await s.stop().catch(() => {});
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

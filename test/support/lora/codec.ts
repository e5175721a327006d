// A stand-in payload codec for the driver's tests (written before drivers/lora/codecs existed;
// kept so the frame tests can count codec calls and closes and need no worker). The driver
// reaches codecs only through the PayloadCodec contract (codec-types.ts), which this implements;
// uplink.test.ts also runs the real codecs end to end. Layout (big endian):
// int16 temperature x10, uint8 humidity x2, uint8 battery %, then optional uint8 "door" (bool).
// encodeDownlink: { interval: seconds } -> [0x01, hi, lo] on fPort 10; anything else is refused.
import type { PayloadCodec } from '../../../drivers/lora/codec-types.ts';

export function encodeSensor(v: { temperature: number; humidity: number; battery: number; door?: boolean }): Buffer {
  const b = Buffer.alloc(v.door === undefined ? 4 : 5);
  b.writeInt16BE(Math.round(v.temperature * 10), 0);
  b[2] = Math.round(v.humidity * 2);
  b[3] = v.battery;
  if (v.door !== undefined) b[4] = v.door ? 1 : 0;
  return b;
}

export function standInCodec(): PayloadCodec & { closed: boolean; calls: number } {
  const c = {
    closed: false,
    calls: 0,
    async decodeUplink({ bytes }: { bytes: Uint8Array; fPort: number }) {
      c.calls++;
      if (bytes.length < 4) return { data: {}, errors: [`need 4 bytes, got ${bytes.length}`] };
      const b = Buffer.from(bytes);
      return {
        data: {
          temperature_1: b.readInt16BE(0) / 10,
          env: { humidity: b[2] / 2 },
          battery: b[3],
          ...(b.length > 4 && { door: b[4] === 1 }),
        },
      };
    },
    async encodeDownlink({ data }: { data: Record<string, unknown> }) {
      const v = data.interval;
      if (typeof v !== 'number' || v < 1 || v > 65535) return { bytes: [], errors: [`interval must be 1-65535 s, got ${JSON.stringify(v)}`] };
      return { bytes: [0x01, (v >> 8) & 0xff, v & 0xff], fPort: 10 };
    },
    async close() {
      c.closed = true;
    },
  };
  return c;
}

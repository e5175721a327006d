// Cayenne LPP against the format's published example vectors (Cayenne LPP documentation and
// TTN's Cayenne page), errors naming the byte offset, and encode/decode of downlinks.
import { describe, expect, it } from 'vitest';
import { createCayenneCodec, decodeLpp, encodeLpp, LPP_TYPES } from './cayenne.ts';

const hex = (s: string) => Uint8Array.from(s.split(/\s+/).map((b) => parseInt(b, 16)));

describe('Cayenne LPP decode', () => {
  it.each([
    ['03 67 01 10 05 67 00 FF', { temperature_3: 27.2, temperature_5: 25.5 }],
    ['01 67 FF D7', { temperature_1: -4.1 }],
    ['06 71 04 D2 FB 2E 00 00', { accelerometer_6: { x: 1.234, y: -1.234, z: 0 } }],
    ['01 88 06 76 5F F2 96 0A 00 03 E8', { gps_1: { latitude: 42.3519, longitude: -87.9094, altitude: 10 } }],
    ['00 73 27 BF 00 67 00 DE', { barometric_pressure_0: 1017.5, temperature_0: 22.2 }], // TTN's example
    ['02 68 61', { relative_humidity_2: 48.5 }],
    ['03 00 01 04 01 00 05 02 FF 38 06 03 01 F4', { digital_in_3: 1, digital_out_4: 0, analog_in_5: -2, analog_out_6: 5 }],
    ['07 65 01 2C 08 66 01 09 86 00 64 FF 9C 00 00', { luminosity_7: 300, presence_8: 1, gyrometer_9: { x: 1, y: -1, z: 0 } }],
    ['01 74 01 2C 02 75 03 E8 03 78 57 04 79 FF 9C', { voltage_1: 3, current_2: 1, percentage_3: 87, altitude_4: -100 }],
    ['05 76 00 00 C3 50 06 80 04 D2 07 82 00 00 30 39 08 83 00 01 E2 40', { frequency_5: 50000, power_6: 1234, distance_7: 12.345, energy_8: 123.456 }],
    ['09 85 65 43 21 00 0A 8E 01 0B 64 00 01 00 00', { unixtime_9: 0x65432100, switch_10: 1, generic_sensor_11: 65536 }],
  ])('%s', (payload, expected) => {
    expect(decodeLpp(hex(payload))).toEqual(expected);
  });

  it('decodes an empty payload to no values', () => {
    expect(decodeLpp(new Uint8Array())).toEqual({});
  });

  it.each([
    ['03 67 01', /temperature on channel 3 needs 2 bytes, 1 left at byte offset 2/],
    ['03 67 01 10 05', /record header truncated .* at byte offset 4/],
    ['03 67 01 10 05 FE 00', /unknown type 0xfe \(channel 5\) at byte offset 5/],
    ['01 88 06 76 5F F2 96 0A 00 03', /gps on channel 1 needs 9 bytes, 8 left at byte offset 2/],
  ])('names the byte offset of a bad record: %s', (payload, message) => {
    expect(() => decodeLpp(hex(payload))).toThrow(message);
  });

  it('reports a bad payload in errors through the codec, never rejecting', async () => {
    const codec = createCayenneCodec();
    const r = await codec.decodeUplink({ bytes: hex('03 67 01'), fPort: 1 });
    expect(r.data).toEqual({});
    expect(r.errors![0]).toMatch(/byte offset 2/);
  });

  it('has each type id once, and sizes that fit the multi-value layouts', () => {
    expect(new Set(LPP_TYPES.map((t) => t.id)).size).toBe(LPP_TYPES.length);
    for (const t of LPP_TYPES) if (t.fields) expect(t.size % t.fields.length).toBe(0);
  });
});

describe('Cayenne LPP encode', () => {
  it('encodes digital and analog outputs as the documented records', async () => {
    const codec = createCayenneCodec();
    const r = await codec.encodeDownlink!({ data: { digital_out_4: 1, analog_out_5: -2.5 } });
    expect(r).toEqual({ bytes: [0x04, 0x01, 0x01, 0x05, 0x03, 0xff, 0x06] });
    expect(decodeLpp(Uint8Array.from(r.bytes))).toEqual({ digital_out_4: 1, analog_out_5: -2.5 });
  });

  it('round-trips every type', () => {
    const data = { temperature_1: -4.1, relative_humidity_2: 48.5, gps_3: { latitude: 42.3519, longitude: -87.9094, altitude: 10 }, accelerometer_4: { x: 1.234, y: -1.234, z: 0 }, energy_5: 123.456, switch_6: 1 };
    expect(decodeLpp(Uint8Array.from(encodeLpp(data)))).toEqual(data);
  });

  it.each([
    [{ brightness_1: 3 }, /"brightness_1": expected <type>_<channel 0-255>/],
    [{ digital_out_1: 300 }, /"digital_out_1": value out of range for 1 byte/],
    [{ analog_out_1: 'high' }, /"analog_out_1": expected a number, got string/],
    [{ digital_out_256: 1 }, /"digital_out_256"/],
  ])('refuses %j with an error naming the key', async (data, message) => {
    const r = await createCayenneCodec().encodeDownlink!({ data });
    expect(r.bytes).toEqual([]);
    expect(r.errors![0]).toMatch(message);
  });
});

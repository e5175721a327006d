// Config of lora sensors through the real loader: defaults, per-mode required fields, two
// sensors with one DevEUI or DevAddr on one listener, points for rules, and the examples of
// docs/drivers/lora.md.
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../runtime/config/index.ts';
import { createDriverRegistry } from '../../runtime/drivers.ts';
import { builtinDrivers } from '../index.ts';
import { loraSchema } from './schema.ts';

const HEAD = 'version: 1\ngateway: { id: pole-1 }\nuplink: { enabled: false }\n';
const registry = () => createDriverRegistry(builtinDrivers());
const K = '2b7e151628aed2a6abf7158809cf4f3c';

describe('lora config', () => {
  it('defaults: otaa, 32-bit counters, udp://0.0.0.0:1700, a 200 ms dedup window, no codec', () => {
    const c = loraSchema.parse({ devEui: '70B3D57ED0000001', appKey: K });
    expect(c).toMatchObject({ devEui: '70b3d57ed0000001', mode: 'otaa', fcntWidth: 32, listen: 'udp://0.0.0.0:1700', source: 'semtech', dedupWindow: 200, fPort: 1, downlinkQueue: 8, netId: '000000', points: {} });
    expect(c.codec).toBeUndefined();
  });

  it('names what a mode needs, and duplicates on one listener, with file:line', () => {
    const dev = (id: string, extra: string) => `  - id: ${id}\n    driver: lora\n${extra}`;
    const msgOf = (yaml: string) => {
      try {
        parseConfig(HEAD + 'devices:\n' + yaml, '/nonexistent/wayside.yaml', registry(), {});
      } catch (err) {
        return (err as Error).message;
      }
      return '';
    };
    const abp = (id: string, eui: string, addr: string) => dev(id, `    mode: abp\n    devEui: "${eui}"\n    devAddr: "${addr}"\n    nwkSKey: "${K}"\n    appSKey: "${K}"\n`);
    // Field problems first (the loader reports them before checks across devices).
    const fields = msgOf(dev('c', '    mode: abp\n    devEui: "0000000000000003"\n')
      + dev('d', `    devEui: "0000000000000004"\n    devAddr: "26011bdd"\n    appKey: "${K}"\n`)
      + dev('f', '    devEui: "12"\n    appKey: x\n'));
    expect(fields).toMatch(/wayside\.yaml:\d+ devices\[0\]\.devAddr: missing required field \(needed while mode is abp\)/);
    expect(fields).toMatch(/devices\[0\]\.nwkSKey: missing required field/);
    expect(fields).toMatch(/devices\[1\]\.devAddr: only used with mode: abp/);
    expect(fields).toMatch(/devices\[2\]\.devEui: expected 16 hex digits/);
    const dup = msgOf(abp('a', '0000000000000001', '26011bda') + abp('b', '0000000000000001', '26011bda') + abp('g', '0000000000000009', '26011bda')
      + dev('e', `    devEui: "0000000000000001"\n    appKey: "${K}"\n    listen: "udp://127.0.0.1:1701"\n`));
    expect(dup).toMatch(/wayside\.yaml:\d+ devices\[1\]\.devEui: DevEUI 0000000000000001 is already used by device "a" on listener udp:\/\/0\.0\.0\.0:1700/);
    expect(dup).toMatch(/devices\[1\]\.devAddr: DevAddr 26011bda is already used by device "a"/);
    expect(dup).toMatch(/devices\[2\]\.devAddr: DevAddr 26011bda is already used by device "a"/);
    expect(dup).not.toMatch(/devices\[3\]/); // same DevEUI on another listener is another network
  });

  it('lists configured points, radio points and downlink for rules and perPoint', () => {
    const yaml = HEAD + `devices:\n  - id: m7\n    driver: lora\n    devEui: "0000000000000007"\n    appKey: "${K}"\n    codec: cayenne\n    points:\n      temperature_1: { unit: "°C" }\n    perPoint:\n      rssi_dbm: { publish: raw }\n      humidity: { publish: raw }\n`;
    expect(() => parseConfig(yaml, '/nonexistent/wayside.yaml', registry(), {})).toThrow(/perPoint\.humidity: unknown point "humidity" of device "m7".*points: temperature_1, rssi_dbm, snr_db, sf, downlink/);
  });

  it('resolves a codec file against the config file and refuses a missing one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lora-cfg-'));
    try {
      writeFileSync(join(dir, 'dec.js'), 'function decodeUplink(input) { return { data: {} }; }\n');
      const dev = (file: string) => HEAD + `devices:\n  - id: m\n    driver: lora\n    devEui: "0000000000000007"\n    appKey: "${K}"\n    codec: { file: ${file}, timeout: 50ms }\n`;
      const c = parseConfig(dev('./dec.js'), join(dir, 'wayside.yaml'), registry(), {});
      expect((c.devices[0] as unknown as { codec: unknown }).codec).toEqual({ kind: 'js', file: join(dir, 'dec.js'), timeoutMs: 50 });
      expect(() => parseConfig(dev('./nope.js'), join(dir, 'wayside.yaml'), registry(), {})).toThrow(/devices\[0\]\.codec\.file: codec file .*nope\.js does not exist/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loads every example of docs/drivers/lora.md', () => {
    const doc = readFileSync(fileURLToPath(new URL('../../docs/drivers/lora.md', import.meta.url)), 'utf8');
    const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]).filter((y) => y.startsWith('devices:'));
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    const dir = mkdtempSync(join(tmpdir(), 'lora-doc-'));
    try {
      writeFileSync(join(dir, 'milesight-em300.js'), 'function decodeUplink(input) { return { data: {} }; }\n');
      for (const y of blocks) {
        const c = parseConfig(HEAD + y, join(dir, 'wayside.yaml'), registry(), { APP_KEY: K, NWK_SKEY: K, APP_SKEY: K });
        expect(c.devices.length).toBeGreaterThan(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// Boot recovery on real files: an open journal of a flows deploy rewrites the flows file Node-RED
// loads with the last good version and marks the deploy interrupted; a closed journal changes
// nothing; bootConfig prefers the active deployed config and falls back to the file when it no
// longer loads.
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtinDrivers } from '../../drivers/index.ts';
import { parseConfig } from '../../runtime/config/index.ts';
import { createDriverRegistry } from '../../runtime/drivers.ts';
import { silentLog } from '../../runtime/log.ts';
import { bootConfig, deployDir, recoverDeploy } from './boot.ts';
import { openVersions } from './history.ts';
import { JOURNAL } from './machine.ts';

const setup = () => {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'wayside-boot-'));
  return { stateDir, dir: deployDir(stateDir) };
};

describe('recoverDeploy', () => {
  it('puts the last good flows back where Node-RED loads them and records the deploy as interrupted', () => {
    const { stateDir, dir } = setup();
    const vs = openVersions(dir.sub('flows'), 'flows');
    const good = [{ id: 't', type: 'tab' }];
    vs.put(1, good);
    vs.setActive(1, true);
    vs.put(2, [{ id: 'bad', type: 'tab' }]);
    vs.setActive(2, false); // switched, not confirmed
    mkdirSync(path.join(stateDir, 'flows'), { recursive: true });
    writeFileSync(path.join(stateDir, 'flows', 'flows.json'), JSON.stringify([{ id: 'bad', type: 'tab' }]));
    dir.write(JOURNAL, { open: true, target: 'flows', kind: 'flows', version: 2, previous: 1, step: 'watching' });

    expect(recoverDeploy(stateDir)).toMatchObject({ target: 'flows', version: 2, restored: 1, step: 'watching' });
    expect(JSON.parse(readFileSync(path.join(stateDir, 'flows', 'flows.json'), 'utf8'))).toEqual(good);
    const st = openVersions(dir.sub('flows'), 'flows').state();
    expect(st).toMatchObject({ active: 1, lastGood: 1 });
    expect(st.history.at(-1)).toMatchObject({ version: 2, outcome: 'interrupted' });
    expect(dir.read(JOURNAL)).toEqual({ open: false });
    expect(recoverDeploy(stateDir)).toBeUndefined(); // idempotent
  });

  it('boots the active deployed config, and the file when the deployed one no longer loads', () => {
    const { stateDir, dir } = setup();
    const registry = createDriverRegistry(builtinDrivers());
    const configFile = path.join(stateDir, 'wayside.yaml');
    const head = `version: 1\ngateway: { id: pole-b, stateDir: ${stateDir} }\nuplink: { enabled: false }\n`;
    const file = parseConfig(head, configFile, registry);
    const parse = (t: string, f: string) => parseConfig(t, f, registry);
    expect(bootConfig({ file, configFile, parse, log: silentLog() })).toBe(file);
    const vs = openVersions(dir.sub('config'), 'config');
    vs.put(4, `${head}devices:\n  - { id: s, driver: sim }\n`);
    vs.setActive(4, true);
    expect(bootConfig({ file, configFile, parse, log: silentLog() }).devices.map((d) => d.id)).toEqual(['s']);
    vs.put(5, `${head}devices: 12\n`);
    vs.setActive(5, true);
    expect(bootConfig({ file, configFile, parse, log: silentLog() })).toBe(file);
  });
});

// The shipped examples (flows/examples/, which the editor lists under Import → Examples through
// flows/nodes/examples) pass what a deploy checks (validateFlows) and what the wayside nodes'
// dialogs check: the validators of each node's .html, run as the editor runs them (the script
// evaluated with a RED that collects the definitions, the checks of resources/editor.js).
import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { validateFlows } from './validate.ts';

type Validate = (this: Record<string, unknown>, v: unknown, opt: object) => unknown;
interface Def { defaults: Record<string, { value: unknown; validate?: Validate }>; paletteLabel?: string; icon?: string; color?: string; inputs?: number; outputs?: number; inputLabels?: unknown; outputLabels?: unknown }

const nodesDir = path.join(import.meta.dirname, 'nodes');
const examplesDir = path.join(import.meta.dirname, 'examples');
const plugins: Record<string, unknown> = {};
vm.runInNewContext(readFileSync(path.join(nodesDir, 'resources/editor.js'), 'utf8'), { RED: { plugins: { registerPlugin: (id: string, d: unknown) => (plugins[id] = d) } } });
const defs: Record<string, Def> = {};
const RED = { nodes: { registerType: (t: string, d: Def) => (defs[t] = d) }, plugins: { getPlugin: (id: string) => plugins[id] }, validators: {} };
for (const f of readdirSync(nodesDir).filter((f) => /^wayside-.*\.html$/.test(f) && f !== 'wayside-editor.html')) {
  const js = /<script type="text\/javascript">([\s\S]*?)<\/script>/.exec(readFileSync(path.join(nodesDir, f), 'utf8'))![1];
  vm.runInNewContext(js, { RED });
}

/** The reasons the dialogs' validators give for a node (empty: valid), as Node-RED calls them. */
function dialogProblems(node: Record<string, unknown>): string[] {
  const def = defs[node.type as string];
  const problems: string[] = [];
  for (const [prop, d] of Object.entries(def.defaults)) {
    const v = node[prop] ?? d.value;
    // Node-RED takes ${ENV} and $(ENV) references as valid without asking the validator.
    if (!d.validate || /^\$\{[a-zA-Z_][a-zA-Z0-9_]*\}$/.test(String(v))) continue;
    const r = d.validate.call(node, v, {});
    if (r !== true) problems.push(`${prop}: ${String(r)}`);
  }
  return problems;
}

const examples = readdirSync(examplesDir).filter((f) => f.endsWith('.json')).sort();

describe('shipped example flows', () => {
  it('are where Node-RED looks for a node module\'s examples', () => {
    expect(realpathSync(path.join(nodesDir, 'examples'))).toBe(realpathSync(examplesDir));
    expect(examples).toEqual(['crossing-night-sign.json', 'device-readings.json', 'lamp-dimming.json', 'led-screen.json', 'object-detection.json', 'pm25-alarm.json']);
  });

  it('has a dialog definition for every wayside node type, with its own icon, colour, palette label and port labels', () => {
    expect(Object.keys(defs).sort()).toEqual(['wayside health', 'wayside in', 'wayside infer', 'wayside out', 'wayside write']);
    for (const [t, d] of Object.entries(defs)) {
      expect(d.icon).toBe(`${t.replace(' ', '-')}.svg`);
      expect(readFileSync(path.join(nodesDir, 'icons', d.icon!), 'utf8')).toMatch(/^<svg [^>]*viewBox="0 0 40 60"/);
      expect(d.paletteLabel!.length).toBeLessThanOrEqual(11);
      // A label for every port (a string, or a function of the node's config).
      if (d.inputs) expect(['string', 'function']).toContain(typeof d.inputLabels);
      if (d.outputs) expect(['string', 'function']).toContain(typeof d.outputLabels);
    }
    expect(new Set(Object.values(defs).map((d) => d.color)).size).toBe(5);
  });

  for (const file of examples) {
    it(`${file}: passes the deploy check and every wayside dialog's validation`, () => {
      const flows = JSON.parse(readFileSync(path.join(examplesDir, file), 'utf8')) as Record<string, unknown>[];
      expect(() => validateFlows(flows)).not.toThrow();
      const wayside = flows.filter((n) => String(n.type).startsWith('wayside '));
      expect(wayside.length).toBeGreaterThan(0);
      for (const n of wayside) expect({ id: n.id, problems: dialogProblems(n) }).toEqual({ id: n.id, problems: [] });
    });
  }

  it('the dialogs refuse what the examples must not ship (the checks can fail)', () => {
    expect(dialogProblems({ type: 'wayside out', kind: 'event', eventType: '', rate: '0' })).toEqual([
      'eventType: an event needs a type, e.g. "air.pm25_high" (or choose "auto" and send msg.event)',
      'rate: Max msgs/s must be more than 0 (empty = the agent\'s default), got 0',
    ]);
    expect(dialogProblems({ type: 'wayside in', readings: false, events: false, summaries: false, device: 'Pole' })).toEqual([
      'readings: tick at least one of readings, events, summaries: the node would send nothing',
      'events: tick at least one of readings, events, summaries: the node would send nothing',
      'summaries: tick at least one of readings, events, summaries: the node would send nothing',
      'device: not a device name or pattern: "Pole" (lowercase letters, digits, ".", "_", "-", with * and ?)',
    ]);
    expect(dialogProblems({ type: 'wayside write', device: 'lamp', point: 'level', timeout: '-1' })).toEqual(['timeout: Timeout must be more than 0 (empty = the agent\'s default), got -1']);
    expect(dialogProblems({ type: 'wayside infer', threshold: '2' })).toEqual(['threshold: threshold: a number from 0 to 1, got "2"']);
  });
});

// The editor-side checks and pickers of the wayside nodes (resources/editor.js, a browser script),
// run here as the editor runs them: the file evaluated with a RED that collects the plugin. The
// browser test (test/flows-editor-browser*.test.ts) drives the same code in real Chromium.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { AGENT_EVENT_NAMESPACES } from '../../runtime/uplink/protocol.ts';
import { MODEL_NAME_RE } from '../../models/registry.ts';
import { DEVICE_RE, EVENT_TYPE_RE, POINT_RE, wildcard } from './src/match.ts';

type Check = (...a: unknown[]) => true | string;
interface EditorApi {
  checks: Record<'device' | 'point' | 'pattern' | 'eventType' | 'positive' | 'threshold' | 'model' | 'takes' | 'unit', Check>;
  wildcard(p: string): (s: string) => boolean;
  warning(devices: unknown[], device: string, point: string, opts?: object): string;
  deviceCompletions(devices: unknown[], text: string, multi?: boolean): { value: string; label: string; detail: string }[];
  pointCompletions(devices: unknown[], device: string, text: string, opts?: object): { value: string; label: string; detail: string }[];
}

const source = readFileSync(path.join(import.meta.dirname, 'resources/editor.js'), 'utf8');
const plugins: Record<string, unknown> = {};
vm.runInNewContext(source, { RED: { plugins: { registerPlugin: (id: string, def: unknown) => (plugins[id] = def) } } });
const W = plugins['wayside-editor'] as EditorApi;

// The catalog as GET <editor>/wayside/devices answers it (a sim pole, a device without known points).
const devices = [
  { id: 'pole', driver: 'sim', points: [
    { name: 'pm25', type: 'number', unit: 'µg/m³', writable: false },
    { name: 'temperature', type: 'number', unit: '°C', writable: false },
    { name: 'lamp_level', type: 'number', unit: '%', writable: true, min: 0, max: 100 },
  ] },
  { id: 'pole-2', driver: 'sim', points: [{ name: 'pm25', type: 'number', unit: 'µg/m³', writable: false }] },
  { id: 'screen', driver: 'modbus' },
];

describe('wayside editor checks', () => {
  it('registers itself as the wayside-editor plugin', () => {
    expect(Object.keys(plugins)).toEqual(['wayside-editor']);
  });

  it('use the runtime\'s name rules', () => {
    const src = (name: string) => new RegExp(`var ${name} = (/.+/);`).exec(source)?.[1];
    expect(src('DEVICE_RE')).toBe(String(DEVICE_RE));
    expect(src('POINT_RE')).toBe(String(POINT_RE));
    expect(src('EVENT_TYPE_RE')).toBe(String(EVENT_TYPE_RE));
    expect(src('MODEL_NAME_RE')).toBe(String(MODEL_NAME_RE));
    expect(/var AGENT_NAMESPACES = (\[.+\]);/.exec(source)?.[1]).toBe(JSON.stringify(AGENT_EVENT_NAMESPACES).replace(/"/g, "'").replace(/,/g, ', '));
    for (const [p, s] of [['meter-*', 'meter-3'], ['pm25,noise_*', 'noise_db'], ['a?c', 'abc'], ['', 'x'], ['*', 'x'], ['a.b', 'axb']] as const) {
      expect(W.wildcard(p)(s)).toBe(wildcard(p)(s));
    }
  });

  it('refuse bad names and patterns with the reason', () => {
    expect(W.checks.device('')).toBe(true);
    expect(W.checks.device('pole-1')).toBe(true);
    expect(W.checks.device('Pole 1')).toBe('not a device id: "Pole 1" (1-64 lowercase letters, digits, ".", "_", "-")');
    expect(W.checks.point('pm25')).toBe(true);
    expect(W.checks.point('pm 25')).toMatch(/^not a point name: "pm 25"/);
    expect(W.checks.pattern('pole-*, meter-?', 'device')).toBe(true);
    expect(W.checks.pattern('*', 'point')).toBe(true);
    expect(W.checks.pattern('pole,,meter', 'device')).toBe('an empty name between commas in "pole,,meter"');
    expect(W.checks.pattern('Pole', 'device')).toMatch(/^not a device name or pattern: "Pole"/);
    expect(W.checks.pattern('air.*', 'eventType')).toBe(true);
    expect(W.checks.pattern('air pm', 'eventType')).toBe('not an event type name or pattern: "air pm" (letters, digits, ".", "_", "-", ":", with * and ?)');
  });

  it('need an event type only when the node makes the event, and never an agent one', () => {
    expect(W.checks.eventType('', false)).toBe(true);
    expect(W.checks.eventType('', true)).toMatch(/^an event needs a type/);
    expect(W.checks.eventType('air.pm25_high', true)).toBe(true);
    expect(W.checks.eventType('device.fault', true)).toMatch(/agent's own namespace "device\."/);
    expect(W.checks.eventType('air pm', false)).toMatch(/^not an event type: "air pm"/);
  });

  it('refuse a zero, negative or absurd rate and timeout (empty = the default)', () => {
    expect(W.checks.positive('', 'Max msgs/s', 10_000)).toBe(true);
    expect(W.checks.positive('25', 'Max msgs/s', 10_000)).toBe(true);
    expect(W.checks.positive('0.5', 'Max msgs/s', 10_000)).toBe(true);
    expect(W.checks.positive('0', 'Max msgs/s', 10_000)).toBe('Max msgs/s must be more than 0 (empty = the agent\'s default), got 0');
    expect(W.checks.positive('-5', 'Timeout', 600, 's')).toBe('Timeout must be more than 0 (empty = the agent\'s default), got -5');
    expect(W.checks.positive('fast', 'Timeout', 600, 's')).toBe('Timeout: not a number: "fast"');
    expect(W.checks.positive('601', 'Timeout', 600, 's')).toBe('Timeout must be at most 600 s, got 601');
    expect(W.checks.threshold('1.5')).toMatch(/^threshold: a number from 0 to 1/);
    expect(W.checks.threshold('0.3')).toBe(true);
    expect(W.checks.model('yolo-n')).toBe(true);
    expect(W.checks.model('YOLO n')).toMatch(/^not a model name/);
    expect(W.checks.unit('x'.repeat(33))).toBe('a unit of at most 32 characters');
  });

  it('refuse a wayside in that takes nothing', () => {
    expect(W.checks.takes(false, false, false)).toBe('tick at least one of readings, events, summaries: the node would send nothing');
    expect(W.checks.takes(false, true, false)).toBe(true);
  });
});

describe('wayside editor warnings', () => {
  it('name an unknown device and list the configured ones', () => {
    expect(W.warning(devices, 'polx', '')).toBe('No configured device is called "polx". Configured: pole, pole-2, screen.');
    expect(W.warning(devices, 'polx*', '', { patterns: true })).toBe('No configured device matches "polx*". Configured: pole, pole-2, screen.');
    expect(W.warning([], 'pole', '')).toBe('No configured device is called "pole". This gateway has no devices configured.');
  });

  it('accept patterns that match and names that exist', () => {
    expect(W.warning(devices, 'pole*', 'pm*', { patterns: true })).toBe('');
    expect(W.warning(devices, 'pole', 'temperature')).toBe('');
    expect(W.warning(devices, '', 'lamp_level', { patterns: true })).toBe('');
    expect(W.warning(devices, 'pole,screen', 'anything', { patterns: true })).toBe(''); // screen's points are not known
  });

  it('name an unknown point and list the device\'s points', () => {
    expect(W.warning(devices, 'pole', 'tempx')).toBe('Device "pole" has no point "tempx". Its points: pm25, temperature, lamp_level.');
    expect(W.warning(devices, 'pole*', 'noise*', { patterns: true })).toBe('No point of pole, pole-2 matches "noise*". Their points: pm25, temperature, lamp_level.');
    expect(W.warning(devices, '*', 'noise*', { patterns: true })).toBe('');
  });

  it('say when the written point is not writable', () => {
    expect(W.warning(devices, 'pole', 'pm25', { writable: true })).toBe('Point "pm25" of "pole" is not writable. Writable: lamp_level.');
    expect(W.warning(devices, 'pole-2', 'pm25', { writable: true })).toBe('Point "pm25" of "pole-2" is not writable. The device has no writable points.');
    expect(W.warning(devices, 'pole', 'lamp_level', { writable: true })).toBe('');
  });
});

describe('wayside editor pickers', () => {
  it('offer devices by what was typed, the last alternative of a filter', () => {
    expect(W.deviceCompletions(devices, 'po').map((c) => c.value)).toEqual(['pole', 'pole-2']);
    expect(W.deviceCompletions(devices, '').map((c) => c.value)).toEqual(['pole', 'pole-2', 'screen']);
    expect(W.deviceCompletions(devices, 'pole, scr', true).map((c) => c.value)).toEqual(['pole,screen']);
    expect(W.deviceCompletions(devices, 'po')[0].detail).toBe('sim · 3 points');
  });

  it('offer the points of the named devices with unit, type, range and writability', () => {
    const pts = W.pointCompletions(devices, 'pole', '');
    expect(pts.map((c) => c.value)).toEqual(['pm25', 'temperature', 'lamp_level']);
    expect(pts[2].detail).toBe('% · number · 0..100 · writable');
    expect(W.pointCompletions(devices, 'pole', 'lamp', { writable: true }).map((c) => c.value)).toEqual(['lamp_level']);
    expect(W.pointCompletions(devices, 'pole', 'pm', { writable: true })).toEqual([]);
    // Filters: the points of every matching device, once, with the devices that have them.
    const many = W.pointCompletions(devices, 'pole*', 'temperature,pm', { multi: true });
    expect(many.map((c) => c.value)).toEqual(['temperature,pm25']);
    expect(many[0].detail).toBe('µg/m³ · number · read-only · pole, pole-2');
  });
});

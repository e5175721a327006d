import { describe, expect, it } from 'vitest';
import { POINT_REF_RE } from '../runtime/config/schema.ts';
import { DEVICE_RE, POINT_RE, wildcard } from './nodes/src/match.ts';
import { countFlows, FlowsValidationError, validateFlows } from './validate.ts';

const tab = { id: 't', type: 'tab' };
const err = (flows: unknown) => {
  try {
    validateFlows(flows);
  } catch (e) {
    return e as FlowsValidationError;
  }
  throw new Error('expected a FlowsValidationError');
};

describe('validateFlows', () => {
  it('accepts tabs, subflows, groups, config nodes and wired nodes', () => {
    const flows = [tab, { id: 's', type: 'subflow' }, { id: 'g', type: 'group', z: 't' }, { id: 'c', type: 'mqtt-broker' },
      { id: 'a', type: 'inject', z: 't', g: 'g', x: 1, y: 1, wires: [['b']] }, { id: 'b', type: 'subflow:s', z: 't', x: 1, y: 2, wires: [[]] }, { id: 'x', type: 'debug', z: 's', x: 1, y: 3, wires: [] }];
    expect(validateFlows(flows)).toHaveLength(7);
    expect(countFlows(flows)).toEqual({ flows: 1, nodes: 4 });
  });

  it('names the node, its type and the field of what is wrong', () => {
    expect(err({}).message).toBe('flows: expected an array of nodes, got object');
    expect(err([tab, 3]).message).toBe('flows[1]: expected an object');
    expect(err([tab, { type: 'inject' }]).message).toBe('flows[1] id: expected a non-empty string');
    expect(err([tab, { id: 'a', z: 't' }]).message).toBe('node "a" type: expected a non-empty string');
    const dup = err([tab, { id: 'a', type: 'inject', z: 't' }, { id: 'a', type: 'debug', z: 't' }]);
    expect(dup.message).toBe('node "a" (debug) id: duplicate id (also used by flows[1], type inject)');
    expect(dup).toMatchObject({ nodeId: 'a', nodeType: 'debug', field: 'id' });
    expect(err([tab, { id: 'a', type: 'inject', z: 'nope' }]).message).toBe('node "a" (inject) z: refers to "nope", which is not a tab or subflow in these flows');
    expect(err([tab, { id: 'a', type: 'inject', z: 't', x: 0, y: 0, wires: [['b']] }]).message).toBe('node "a" (inject) wires[0][0]: wired to "b", which is not in these flows');
    expect(err([tab, { id: 'a', type: 'inject', z: 't', x: 0, y: 0, wires: ['b'] }]).message).toBe('node "a" (inject) wires[0]: expected an array of node ids');
    expect(err([tab, { id: 'a', type: 'inject', z: 't', x: 0, y: 0, wires: [['t']] }]).message).toBe('node "a" (inject) wires[0][0]: wired to "t", a tab');
    expect(err([tab, { id: 'a', type: 'inject', z: 't', x: 0, wires: [] }]).message).toBe('node "a" (inject) y: expected a number (position in the editor; every node with wires needs x and y)');
    expect(err([tab, { id: 'a', type: 'subflow:zz', z: 't' }]).message).toMatch(/node "a" \(subflow:zz\) type: instance of subflow "zz"/);
    expect(err([tab, { id: 'a', type: 'inject', z: 't', g: 'zz' }]).field).toBe('g');
  });
});

describe('wayside node helpers', () => {
  it('check device and point names exactly like the config does', () => {
    expect(new RegExp(`^(${DEVICE_RE.source.slice(1, -1)})\\/(${POINT_RE.source.slice(1, -1)})$`).source).toBe(POINT_REF_RE.source);
  });

  it('match wildcards and lists', () => {
    expect(wildcard('')('x')).toBe(true);
    expect(wildcard('meter-*')('meter-3')).toBe(true);
    expect(wildcard('meter-*')('pole')).toBe(false);
    expect(wildcard('pm25, noise_?b')('noise_db')).toBe(true);
    expect(wildcard('pm2.5')('pm2x5')).toBe(false); // "." is literal
    expect(wildcard('a*')(undefined)).toBe(false);
  });
});

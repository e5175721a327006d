// Checks flow JSON we deploy ourselves (remote deploy, tests) before Node-RED gets it: Node-RED
// validates node settings only in the editor, and a dangling wire or a duplicate id deployed
// headless fails late and vaguely. Errors name the node (id, type) and the field.

export class FlowsValidationError extends Error {
  readonly nodeId?: string;
  readonly nodeType?: string;
  readonly field?: string;
  constructor(message: string, where: { index?: number; nodeId?: string; nodeType?: string; field?: string } = {}) {
    const at = where.nodeId !== undefined ? `node "${where.nodeId}"${where.nodeType ? ` (${where.nodeType})` : ''}` : where.index !== undefined ? `flows[${where.index}]` : 'flows';
    super(`${at}${where.field ? ` ${where.field}` : ''}: ${message}`);
    this.name = 'FlowsValidationError';
    this.nodeId = where.nodeId;
    this.nodeType = where.nodeType;
    this.field = where.field;
  }
}

export const MAX_FLOW_NODES = 10_000;

type FlowNode = Record<string, unknown> & { id: string; type: string };

/** Throws a FlowsValidationError naming the first problem; returns the nodes typed. */
export function validateFlows(flows: unknown): FlowNode[] {
  if (!Array.isArray(flows)) throw new FlowsValidationError(`expected an array of nodes, got ${flows === null ? 'null' : typeof flows}`);
  if (flows.length > MAX_FLOW_NODES) throw new FlowsValidationError(`${flows.length} nodes, at most ${MAX_FLOW_NODES}`);
  const byId = new Map<string, FlowNode>();
  flows.forEach((n: unknown, index) => {
    if (typeof n !== 'object' || n === null || Array.isArray(n)) throw new FlowsValidationError('expected an object', { index });
    const o = n as Record<string, unknown>;
    if (typeof o.id !== 'string' || o.id === '') throw new FlowsValidationError('expected a non-empty string', { index, field: 'id' });
    if (typeof o.type !== 'string' || o.type === '') throw new FlowsValidationError('expected a non-empty string', { index, nodeId: o.id, field: 'type' });
    const prev = byId.get(o.id);
    if (prev) throw new FlowsValidationError(`duplicate id (also used by flows[${flows.indexOf(prev)}], type ${prev.type})`, { nodeId: o.id, nodeType: o.type, field: 'id' });
    byId.set(o.id, o as FlowNode);
  });

  const isContainer = (id: unknown) => {
    const t = typeof id === 'string' ? byId.get(id)?.type : undefined;
    return t === 'tab' || t === 'subflow';
  };
  for (const n of byId.values()) {
    const where = { nodeId: n.id, nodeType: n.type };
    if (n.type === 'tab' || n.type === 'subflow') continue;
    // Config nodes have no z (or ""); every other z must name a tab or subflow of this deploy.
    if (n.z !== undefined && n.z !== '' && !isContainer(n.z)) {
      throw new FlowsValidationError(`refers to ${JSON.stringify(n.z)}, which is not a tab or subflow in these flows`, { ...where, field: 'z' });
    }
    if (n.g !== undefined && (typeof n.g !== 'string' || byId.get(n.g)?.type !== 'group')) {
      throw new FlowsValidationError(`refers to ${JSON.stringify(n.g)}, which is not a group in these flows`, { ...where, field: 'g' });
    }
    if (n.type.startsWith('subflow:') && byId.get(n.type.slice(8))?.type !== 'subflow') {
      throw new FlowsValidationError(`instance of subflow "${n.type.slice(8)}", which is not in these flows`, { ...where, field: 'type' });
    }
    if (n.wires !== undefined) {
      // Node-RED tells flow nodes from config nodes by x/y: without them a wired node would be
      // started as a config node, out of order and without its wires.
      for (const f of ['x', 'y']) {
        if (typeof n[f] !== 'number') throw new FlowsValidationError('expected a number (position in the editor; every node with wires needs x and y)', { ...where, field: f });
      }
      checkWires(n, byId);
    }
  }
  return [...byId.values()];
}

function checkWires(n: FlowNode, byId: Map<string, FlowNode>): void {
  const where = { nodeId: n.id, nodeType: n.type };
  if (!Array.isArray(n.wires)) throw new FlowsValidationError('expected an array of outputs, each an array of node ids', { ...where, field: 'wires' });
  n.wires.forEach((out: unknown, o) => {
    if (!Array.isArray(out)) throw new FlowsValidationError('expected an array of node ids', { ...where, field: `wires[${o}]` });
    out.forEach((target: unknown, k) => {
      if (typeof target !== 'string') throw new FlowsValidationError(`expected a node id, got ${JSON.stringify(target)}`, { ...where, field: `wires[${o}][${k}]` });
      const t = byId.get(target);
      if (!t) throw new FlowsValidationError(`wired to "${target}", which is not in these flows`, { ...where, field: `wires[${o}][${k}]` });
      if (t.type === 'tab' || t.type === 'subflow' || t.type === 'group') throw new FlowsValidationError(`wired to "${target}", a ${t.type}`, { ...where, field: `wires[${o}][${k}]` });
    });
  });
}

/** Counts for health: tabs, and nodes that are neither tabs, subflows nor groups. */
export function countFlows(flows: readonly { type?: unknown }[]): { flows: number; nodes: number } {
  let tabs = 0;
  let nodes = 0;
  for (const n of flows) {
    if (n.type === 'tab') tabs++;
    else if (n.type !== 'subflow' && n.type !== 'group') nodes++;
  }
  return { flows: tabs, nodes };
}

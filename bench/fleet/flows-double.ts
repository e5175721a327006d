// A flows host double for light agents (the fleet benchmark and the cluster test). Node-RED is a
// per-process singleton (one runtime, one settings object, one HTTP root), so 50 agents in one
// process cannot each run their own; this double stands in for the `flows` service only. It is
// what provisioning/deploy/targets/flows.ts needs from the flows service: `knownTypes()` (the
// node types a deploy may use; here Node-RED's core types and the wayside nodes), a host whose
// `setFlows` "runs" the flows (checks they are an array of nodes with id and type, counts tabs
// and nodes, reports `running`), and the health section the deploy machine watches
// (`state`, `nodeErrors`). Everything else of a deploy (signature check, validation with
// flows/validate.ts, versions stored and fsync'd, journal, health window, events) is the real code.
import { createHash } from 'node:crypto';
import type { FlowsService } from '../../flows/service.ts';
import type { FlowsHealth, FlowsHost } from '../../flows/host.ts';
import type { ServiceHealth } from '../../runtime/service.ts';

/** Node-RED 5 core node types a gateway ships, and the wayside nodes (flows/nodes). */
export const DOUBLE_NODE_TYPES = [
  'inject', 'debug', 'complete', 'catch', 'status', 'link in', 'link out', 'link call', 'comment', 'unknown',
  'function', 'switch', 'change', 'range', 'template', 'delay', 'trigger', 'exec', 'filter', 'rbe',
  'split', 'join', 'sort', 'batch', 'csv', 'html', 'json', 'xml', 'yaml',
  'http in', 'http response', 'http request', 'tcp in', 'tcp out', 'tcp request', 'udp in', 'udp out',
  'mqtt in', 'mqtt out', 'mqtt-broker', 'websocket in', 'websocket out', 'websocket-listener', 'websocket-client',
  'file', 'file in', 'watch',
  'wayside in', 'wayside out', 'wayside write', 'wayside health', 'wayside infer',
];

const STRUCTURE = new Set(['tab', 'subflow', 'group', 'junction']);

export interface FlowsDouble extends FlowsService {
  /** Full deploys the host ran (setFlows calls). */
  deploys(): number;
}

export function createFlowsDouble(opts: { types?: string[] } = {}): FlowsDouble {
  let running: FlowsHealth | undefined;
  let count = 0;
  const host: FlowsHost = {
    async stop() {
      if (running) running = { ...running, state: 'stopped' };
    },
    health: () => running!,
    async setFlows(flows) {
      if (!Array.isArray(flows)) throw new Error('flows double: expected an array of nodes');
      for (const [i, n] of flows.entries()) {
        const node = n as { id?: unknown; type?: unknown };
        if (!node || typeof node.id !== 'string' || typeof node.type !== 'string') throw new Error(`flows double: node ${i} has no string id and type`);
      }
      const nodes = flows as { type: string }[];
      count++;
      running = {
        ...running!,
        state: 'running',
        flows: nodes.filter((n) => n.type === 'tab').length,
        nodes: nodes.filter((n) => !STRUCTURE.has(n.type)).length,
        rev: createHash('sha256').update(JSON.stringify(flows)).digest('hex').slice(0, 32),
      };
    },
  };
  return {
    name: 'flows',
    async start() {
      running = {
        state: 'running', flows: 0, nodes: 0, nodeErrors: 0, errorsByNode: {}, errorLoopDrops: 0, unknownTypes: [],
        logsSuppressed: 0, pointsRefused: {}, editor: false,
        msgsIn: 0, msgsOut: 0, dropped: 0, writes: 0, writeErrors: 0, tsRefused: 0,
      };
    },
    async stop() {
      await host.stop();
    },
    health(): ServiceHealth {
      return { section: running ? { ...running, double: true } : undefined, problems: running && running.state !== 'running' ? [`flows ${running.state}`] : [] };
    },
    host: () => (running ? host : undefined),
    knownTypes: async () => [...(opts.types ?? DOUBLE_NODE_TYPES)],
    deploys: () => count,
  };
}

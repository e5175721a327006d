// The flows as a deploy target: validated (shape, wiring, and every node type installed in the
// running Node-RED: nothing is ever installed on the box), switched with a full deploy through
// the flows host (Node-RED persists the active flows in <stateDir>/flows/flows.json itself), and
// watched for node errors by the machine. The flows that ran before the first deploy are kept
// as version 0.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { validateFlows } from '../../../flows/validate.ts';
import type { FlowsService } from '../../../flows/service.ts';
import { writeJsonAtomic, ensureDir } from '../../../runtime/state.ts';
import { CommandError } from '../../../runtime/uplink/index.ts';
import type { DeployTarget } from '../machine.ts';

export type FlowNodes = Record<string, unknown>[];

/** Node types that are structure, not installed nodes (`subflow:<id>` instances are checked by validateFlows). */
const STRUCTURAL = new Set(['tab', 'subflow', 'group', 'junction', 'comment', 'unknown']);

/** Where Node-RED keeps the active flows (flows/host.ts userDirOf + settings FLOW_FILE). */
export function flowsFile(stateDir: string): string {
  return path.join(stateDir, 'flows', 'flows.json');
}

/** Writes flows where Node-RED loads them at start (boot recovery, before Node-RED runs). */
export function writeFlowsFile(stateDir: string, flows: FlowNodes): void {
  ensureDir(path.dirname(flowsFile(stateDir)));
  writeJsonAtomic(flowsFile(stateDir), flows);
}

export function flowsTarget(deps: { flows: () => FlowsService | undefined; stateDir: string }): DeployTarget<FlowNodes> {
  const running = () => {
    const svc = deps.flows();
    const host = svc?.host();
    if (!svc || !host) throw new CommandError('flows_unavailable', 'Node-RED is not running on this gateway (flows.enabled, or the flows service failed to start: see health)');
    return { svc, host };
  };
  return {
    key: 'flows',
    kind: 'flows',
    async validate(content) {
      let nodes: FlowNodes;
      try {
        nodes = validateFlows(content);
      } catch (err) {
        throw new CommandError('invalid', (err as Error).message);
      }
      const { svc } = running();
      const known = new Set(await svc.knownTypes());
      const missing = [...new Set(nodes.map((n) => n.type as string).filter((t) => !STRUCTURAL.has(t) && !t.startsWith('subflow:') && !known.has(t)))];
      if (missing.length) {
        throw new CommandError('unknown_node_types', `node types not installed on this gateway: ${missing.join(', ')} (nodes are never installed by a deploy; ship them with the agent)`);
      }
      return nodes;
    },
    async switch(content) {
      await running().host.setFlows(content ?? []);
    },
    async baseline() {
      const file = flowsFile(deps.stateDir);
      if (!existsSync(file)) return [];
      try {
        const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
        const list = Array.isArray(v) ? v : (v as { flows?: unknown })?.flows;
        return Array.isArray(list) ? (list as FlowNodes) : [];
      } catch {
        return undefined; // unreadable: nothing to keep
      }
    },
  };
}

// The gateway host of the fleet benchmark: a child process (fork, IPC) that runs many light
// gateways (gateways.ts) side by side, so that 500 of them fit on two cores. The parent sends
// { type: 'start', gateways, ... } and later { type: 'stop' }; the host answers
//   { type: 'ready', started, failed, ms }   once every gateway's uplink is connected
//   { type: 'stopped', rssMb, cpuS }         after stopping them all (its RSS and CPU time)
// and exits. A gateway that fails to start is reported, never fatal to the others.
import { pool } from './platform.ts';
import { startLightGateway, type LightGateway, type LightGatewaySpec } from './gateways.ts';

export type HostRequest =
  | { type: 'start'; gateways: LightGatewaySpec[]; startConcurrency?: number; connectTimeoutMs?: number }
  | { type: 'stop' };

export type HostReport =
  | { type: 'ready'; started: number; failed: { gw: string; error: string }[]; notConnected: string[]; ms: number; rssMb: number }
  | { type: 'stopped'; rssMb: number; cpuS: number };

if (import.meta.main) {
  const send = (m: HostReport) => process.send!(m);
  let running: LightGateway[] = [];
  process.on('message', (msg: HostRequest) => {
    if (msg.type === 'start') void start(msg);
    if (msg.type === 'stop') void stop();
  });
  process.on('disconnect', () => void stop());

  async function start(req: Extract<HostRequest, { type: 'start' }>): Promise<void> {
    const t0 = performance.now();
    const failed: { gw: string; error: string }[] = [];
    const started = await pool(req.gateways, req.startConcurrency ?? 5, async (spec) => {
      try {
        return await startLightGateway(spec);
      } catch (err) {
        failed.push({ gw: spec.gw, error: (err as Error).message });
        return undefined;
      }
    });
    running = started.filter((g): g is LightGateway => g !== undefined);
    const deadline = Date.now() + (req.connectTimeoutMs ?? 60_000);
    const connected = () => running.filter((g) => (g.agent.health() as { uplink?: { connected?: boolean } }).uplink?.connected === true).length;
    while (connected() < running.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const notConnected = running.filter((g) => (g.agent.health() as { uplink?: { connected?: boolean } }).uplink?.connected !== true).map((g) => g.gw);
    send({ type: 'ready', started: running.length, failed, notConnected, ms: performance.now() - t0, rssMb: process.memoryUsage().rss / 2 ** 20 });
  }

  let stopping: Promise<void> | undefined;
  function stop(): Promise<void> {
    return (stopping ??= (async () => {
      await pool(running, 10, (g) => g.agent.stop('bench done').catch(() => undefined));
      const cpu = process.cpuUsage();
      if (process.connected) send({ type: 'stopped', rssMb: process.memoryUsage().rss / 2 ** 20, cpuS: (cpu.user + cpu.system) / 1e6 });
      setTimeout(() => process.exit(0), 100);
    })());
  }
}

// Fleet benchmark: one platform manages N gateways (default 500, env WAYSIDE_FLEET_N) on one
// real mosquitto. Run: npm run bench:fleet   (last line: one JSON object)
//
// The gateways are LIGHT agents, WAYSIDE_FLEET_PER_PROC (default 50) per child process
// (bench/fleet/host.ts): each a real startAgent with its own gateway id, enrolled offline with a
// bundle signed by the platform key (provisioning/fleet/sign.ts makeBundle + provisioning/enroll.ts
// applyBundle), its own state dir and SQLite outbox in a temp dir, one sim device polled every
// 10 s (2 points, summaries over 60 s windows), and the product's services (main.ts
// productServices) minus the models service. THE FLOWS HOST IS A DOUBLE (bench/fleet/flows-double.ts):
// Node-RED is one runtime per process and cannot run 50 times in one; the double validates the
// flows' node types and "runs" them (counts nodes, reports running). Signature check, deploy
// validation (flows/validate.ts), versions stored, journal, 1 s health window and deploy.* events
// are the real code. The broker runs without ACL (anonymous): the ACL is tested in
// provisioning/acl.test.ts; responses still go to `{prefix}/{gw}/res/...`.
// The gateways' state dirs go to /dev/shm when it exists (env WAYSIDE_FLEET_DIR: another parent
// folder, e.g. /tmp for the disk): in the field each gateway fsyncs to its own flash, here 500
// would queue their fsyncs (replay.json, stored versions, journal, outbox) on one shared disk,
// which measures that disk, not the fleet. Run it once on disk too (bench:fleet with
// WAYSIDE_FLEET_DIR=/tmp) to see what the shared disk adds.
//
// Measured from the platform side in this process (bench/fleet/platform.ts: the protocol's
// calls, sending to all at once; and the wayside-fleet library for the staged deploy):
//   idle       messages (and bytes) per gateway per minute at rest over WAYSIDE_FLEET_IDLE_S
//              (default 60) seconds: every message a `#` subscriber sees, and mosquitto's
//              $SYS/broker/publish/messages/received and publish/bytes/received deltas (PUBLISH
//              packets only: $SYS/broker/messages/received also counts PINGREQ and PUBACK);
//   ping_all   a plain `ping` to every gateway (no deploy machine), 50 awaiting an answer at once;
//   deploy     a signed flows.deploy to every gateway (100 awaiting their `watching` answer at
//              once), outcomes from the deploy.confirmed events: time until 99 % and 100 % confirmed;
//   fleet      the same deploy (v2) through provisioning/fleet/fleet.ts connectFleet().deploy as
//              an operator runs it: staged (10 %, then the rest), each stage all at once;
//   health_all `health` to every gateway, 50 awaiting an answer at once.
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { connectFleet } from '../provisioning/fleet/fleet.ts';
import { generatePlatformKey } from '../provisioning/fleet/keys.ts';
import { startMosquitto } from '../test/helpers/mosquitto.ts';
import { gatewayIds, provisionGateway, type LightGatewaySpec } from './fleet/gateways.ts';
import type { HostReport, HostRequest } from './fleet/host.ts';
import { connectPlatform, type DeployOutcome } from './fleet/platform.ts';
import { cpuSeconds, round, rssMb } from './proc.ts';

const N = Number(process.env.WAYSIDE_FLEET_N ?? 500);
const PER_PROC = Number(process.env.WAYSIDE_FLEET_PER_PROC ?? 50);
const IDLE_S = Number(process.env.WAYSIDE_FLEET_IDLE_S ?? 60);
const PREFIX = 'wayside/v1';
const COMMAND_CONCURRENCY = 50;
const DEPLOY_CONCURRENCY = 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const s = (ms: number) => round(ms / 1000, 2);

const parent = process.env.WAYSIDE_FLEET_DIR ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
const dir = mkdtempSync(join(parent, 'wayside-fleet-bench-'));
const broker = await startMosquitto({ extraConf: ['sys_interval 1', 'max_connections -1'] });
const hosts: ChildProcess[] = [];
try {
  console.log(`fleet bench: ${N} light gateways, ${PER_PROC} per process, mosquitto ${broker.url}, state in ${dir}`);
  console.log('flows host: a double (Node-RED is one per process); everything else of a deploy is the real code');
  const key = generatePlatformKey(join(dir, 'fleet', 'platform.key'));

  // 1. Enrollment, offline, as `wayside-fleet claim --offline` + `wayside provision --file` do.
  const ids = gatewayIds(N);
  let t0 = performance.now();
  const specs: LightGatewaySpec[] = ids.map((gw) => {
    const root = join(dir, gw);
    provisionGateway(root, gw, key.privateKey, { url: broker.url, username: gw, password: `${gw}-pw` });
    return { gw, root, intervalS: 10, healthWindow: '1s' };
  });
  console.log(`enrolled ${N} gateways offline in ${s(performance.now() - t0)} s`);

  // 2. The platform first (it sees every birth), then the gateway hosts.
  const platform = await connectPlatform({ url: broker.url, prefix: PREFIX, key, clientId: 'platform-bench' });
  const monitor = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'bench-monitor', clean: true });
  let seenMsgs = 0;
  let seenBytes = 0;
  const sys: Record<string, number> = {};
  let drops = 0;
  let births = 0;
  for (const c of [platform.client, monitor]) c.on('close', () => drops++);
  const kinds = new Map<string, number>();
  const trace: { type: string; ts: number; at: number }[] = [];
  monitor.on('message', (topic, payload) => {
    if (process.env.WAYSIDE_FLEET_DEBUG) {
      const k = topic.split('/').slice(3).join('/') || topic;
      kinds.set(k, (kinds.get(k) ?? 0) + 1);
      if (k === 'up/event') {
        const b = JSON.parse(payload.toString()) as { records: { body: { type: string; ts: number } }[] };
        for (const r of b.records) if (r.body.type.startsWith('deploy.')) trace.push({ type: r.body.type, ts: r.body.ts, at: Date.now() });
      }
    }
    if (topic.endsWith('/state') && payload.includes('"online":true')) births++;
    if (topic.startsWith('$SYS/')) {
      sys[topic] = Number(payload.toString());
      return;
    }
    seenMsgs++;
    seenBytes += payload.length + Buffer.byteLength(topic);
  });
  await monitor.subscribeAsync(['#', '$SYS/broker/publish/messages/received', '$SYS/broker/publish/bytes/received', '$SYS/broker/clients/connected'], { qos: 0 });

  t0 = performance.now();
  const groups: LightGatewaySpec[][] = [];
  for (let i = 0; i < specs.length; i += PER_PROC) groups.push(specs.slice(i, i + PER_PROC));
  const ready = await Promise.all(
    groups.map(
      (gateways) =>
        new Promise<Extract<HostReport, { type: 'ready' }>>((resolve, reject) => {
          const child = fork(new URL('./fleet/host.ts', import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
          hosts.push(child);
          child.once('exit', (code) => reject(new Error(`gateway host ${child.pid} exited with code ${code} before it was ready`)));
          child.on('message', (m: HostReport) => m.type === 'ready' && resolve(m));
          child.send({ type: 'start', gateways, startConcurrency: 5, connectTimeoutMs: 120_000 } satisfies HostRequest);
        }),
    ),
  );
  const started = ready.reduce((a, r) => a + r.started, 0);
  const failed = ready.flatMap((r) => r.failed);
  const notConnected = ready.flatMap((r) => r.notConnected);
  for (const f of failed.slice(0, 5)) console.log(`  ${f.gw} failed to start: ${f.error}`);
  if (notConnected.length) console.log(`  ${notConnected.length} not connected, e.g. ${notConnected.slice(0, 5).join(', ')}`);
  const deadline = Date.now() + 30_000;
  while (platform.gateways().filter((g) => g.online).length < started && Date.now() < deadline) await sleep(100);
  console.log(`${started}/${N} gateways started in ${groups.length} processes in ${s(performance.now() - t0)} s; platform saw ${platform.gateways().filter((g) => g.online).length} births`);
  if (started === 0) throw new Error('no gateway started');
  const live = ids.filter((gw) => !failed.some((f) => f.gw === gw));

  // 3. At rest: every message on `#`, and mosquitto's own counters, over IDLE_S seconds. The
  // gateways' 60 s summary windows all close on the wall-clock minute (runtime/summarizer.ts), so
  // the window runs from :30 to :30 (one close in the middle, none cut at the edges) and the
  // phases after it run between :31 and the next minute, away from that burst.
  await sleep(5000);
  await sleep(msUntilSecond(30));
  const cpu0 = hosts.map((h) => cpuSeconds(h.pid!));
  const sys0 = { ...sys };
  const m0 = seenMsgs;
  const b0 = seenBytes;
  t0 = performance.now();
  await sleep(IDLE_S * 1000);
  const idleMin = (performance.now() - t0) / 60_000;
  await sleep(1200); // one more $SYS interval
  const sys1 = { ...sys };
  const idleMsgs = seenMsgs - m0;
  const reconnects = births - started;
  const idleBytes = seenBytes - b0;
  const sysMsgs = (sys1['$SYS/broker/publish/messages/received'] ?? NaN) - (sys0['$SYS/broker/publish/messages/received'] ?? NaN);
  const sysBytes = (sys1['$SYS/broker/publish/bytes/received'] ?? NaN) - (sys0['$SYS/broker/publish/bytes/received'] ?? NaN);
  const hostCpuPct = hosts.map((h, i) => ((cpuSeconds(h.pid!) - cpu0[i]) / (idleMin * 60)) * 100);
  const hostRss = hosts.map((h) => rssMb(h.pid!));
  const perGwMin = (x: number) => round(x / started / idleMin, 3);
  console.log(
    `at rest over ${round(idleMin * 60, 1)} s: '#' saw ${idleMsgs} messages (${perGwMin(idleMsgs)} /gw/min, ${perGwMin(idleBytes)} B/gw/min payload+topic); ` +
      `$SYS publish/messages/received +${sysMsgs} (${perGwMin(sysMsgs)} /gw/min), publish/bytes/received +${sysBytes} (${perGwMin(sysBytes)} B/gw/min)`,
  );
  if (process.env.WAYSIDE_FLEET_DEBUG) console.log('idle by kind', JSON.stringify([...kinds]), 'platform/monitor connection drops', drops);
  if (reconnects > 0) console.log(`  ${reconnects} births more than gateways since the start: gateways reconnected (keepalive missed on starved cores?)`);
  console.log(`gateway hosts at rest: RSS ${round(hostRss.reduce((a, b) => a + b, 0) / hosts.length, 1)} MB per process (${round(hostRss.reduce((a, b) => a + b, 0) / started, 2)} MB per gateway), CPU ${round(hostCpuPct.reduce((a, b) => a + b, 0), 1)} % of one core for all`);

  // Gateway-side CPU of a phase: here 500 gateways share 2 cores, in the field each has its own.
  const hostCpu = () => hosts.reduce((a, h) => a + cpuSeconds(h.pid!), 0);
  const cpuMsPerGw = (c0: number) => round(((hostCpu() - c0) * 1000) / started, 1);

  // 4. Baseline: a plain ping to every gateway.
  let c0 = hostCpu();
  t0 = performance.now();
  const pings = await platform.commandAll(live, 'ping', { concurrency: COMMAND_CONCURRENCY, timeoutMs: 30_000, payload: {} });
  const pingAll = performance.now() - t0;
  const pingOk = pings.filter((p) => p.ok).length;
  const pingCpu = cpuMsPerGw(c0);
  console.log(`ping: ${pingOk}/${live.length} answered in ${s(pingAll)} s (p50 ${s(pct(pings.map((p) => p.ms), 0.5))} s per answer); gateway CPU ${pingCpu} ms per gateway`);

  // 5. A signed flows deploy to every gateway; outcomes from the deploy.confirmed events.
  const flows = JSON.parse(readFileSync(new URL('../flows/examples/lamp-dimming.json', import.meta.url), 'utf8')) as unknown[];
  const confirmedAt: number[] = [];
  const wall0 = Date.now();
  c0 = hostCpu();
  t0 = performance.now();
  const tally = await platform.deploy('flows', flows, live, {
    version: 1,
    concurrency: DEPLOY_CONCURRENCY,
    timeoutMs: 120_000,
    onProgress: (o: DeployOutcome) => { if (o.status === 'confirmed') confirmedAt.push(performance.now() - t0); },
  });
  const deployAll = performance.now() - t0;
  const deployCpu = cpuMsPerGw(c0);
  const accepted = tally.outcomes.map((o) => o.acceptedMs).filter((x): x is number => x !== undefined).sort((a, b) => a - b);
  confirmedAt.sort((a, b) => a - b);
  const p99Index = Math.ceil(0.99 * live.length) - 1;
  const deployP99 = confirmedAt.length > p99Index ? confirmedAt[p99Index] : NaN;
  const deployAllConfirmed = tally.confirmed === live.length ? confirmedAt[confirmedAt.length - 1] : NaN;
  const notOk = tally.outcomes.filter((o) => o.status !== 'confirmed');
  const byStatus = (xs: DeployOutcome[]) => {
    const counts = new Map<string, number>();
    for (const o of xs) counts.set(o.status, (counts.get(o.status) ?? 0) + 1);
    return [...counts].map(([k, n]) => `${k} ${n}`).join(', ');
  };
  console.log(`deploy flows v1 (${flows.length} nodes): ${tally.confirmed}/${live.length} confirmed; 99 % by ${s(deployP99)} s, all by ${s(deployAllConfirmed)} s (run ${s(deployAll)} s; last \`watching\` answer at ${s(accepted.at(-1) ?? NaN)} s, p50 ${s(pct(accepted, 0.5))} s; gateway CPU ${deployCpu} ms per gateway)${notOk.length ? `; ${byStatus(notOk)}, e.g. ${notOk[0].gw}: ${notOk[0].reason}` : ''}`);

  if (process.env.WAYSIDE_FLEET_DEBUG) {
    const q = (xs: number[]) => [0.1, 0.5, 0.9, 1].map((p) => s(pct(xs, p))).join('/');
    for (const type of ['deploy.started', 'deploy.confirmed']) {
      const t = trace.filter((x) => x.type === type);
      console.log(`${type}: gateway ts after deploy start p10/p50/p90/max ${q(t.map((x) => x.ts - wall0))} s; arrival after its ts ${q(t.map((x) => x.at - x.ts))} s`);
    }
  }

  // 5b. The same deploy (v2) through the wayside-fleet library as an operator runs it, staged:
  // no canary, then 10 % of the gateways, then the rest, each stage all at once, stopping if a
  // stage fails above 20 %.
  const fleet = await connectFleet({ url: broker.url, prefix: PREFIX, key, clientId: 'fleet-bench' });
  await fleet.ready();
  const fleetConfirmed: number[] = [];
  t0 = performance.now();
  const fleetTally = await fleet.deploy('flows', flows, live, {
    version: 2, canary: 0, concurrency: live.length, maxFailureRate: 0.2, timeoutMs: 120_000,
    onProgress: (o) => { if (o.status === 'confirmed') fleetConfirmed.push(performance.now() - t0); },
  });
  const fleetAll = performance.now() - t0;
  fleetConfirmed.sort((a, b) => a - b);
  const fleetP99 = fleetConfirmed.length > p99Index ? fleetConfirmed[p99Index] : NaN;
  console.log(`wayside-fleet deploy flows v2 (staged 10 % then the rest): ${fleetTally.confirmed}/${live.length} confirmed; 99 % by ${s(fleetP99)} s, all by ${s(fleetAll)} s${fleetTally.stoppedEarly ? `; stopped early: ${fleetTally.stoppedEarly}` : ''}`);
  await fleet.close();

  // 6. Health from every gateway.
  const rb0 = platform.responseBytes();
  c0 = hostCpu();
  t0 = performance.now();
  const healths = await platform.health(live, { concurrency: COMMAND_CONCURRENCY, timeoutMs: 30_000 });
  const healthAll = performance.now() - t0;
  const healthOk = healths.filter((h) => h.ok).length;
  const healthCpu = cpuMsPerGw(c0);
  const flowsVersion = healths.filter((h) => (h.result as { deploy?: { flows?: { active?: number } } } | undefined)?.deploy?.flows?.active === 2).length;
  console.log(`health: ${healthOk}/${live.length} answered in ${s(healthAll)} s, ${round((platform.responseBytes() - rb0) / Math.max(1, healthOk))} B per document; ${flowsVersion} report flows v2 active; gateway CPU ${healthCpu} ms per gateway`);

  await platform.close();
  await monitor.endAsync(true);
  const stopped = await Promise.all(hosts.map((h) => new Promise<void>((resolve) => {
    h.removeAllListeners('exit');
    h.once('exit', () => resolve());
    h.send({ type: 'stop' } satisfies HostRequest);
    setTimeout(() => (h.kill('SIGKILL'), resolve()), 20_000).unref();
  })));
  void stopped;

  const out = {
    gateways: started,
    confirmed: tally.confirmed,
    deploy_p99_s: s(deployP99),
    deploy_all_s: s(deployAllConfirmed),
    health_all_s: s(healthAll),
    idle_msgs_per_gw_min: perGwMin(idleMsgs),
    ping_all_s: s(pingAll),
    fleet_confirmed: fleetTally.confirmed,
    fleet_deploy_p99_s: s(fleetP99),
    fleet_deploy_all_s: s(fleetAll),
    deploy_to_ping: round(deployAllConfirmed / pingAll, 2),
    sys_msgs_per_gw_min: perGwMin(sysMsgs),
    idle_bytes_per_gw_min: perGwMin(idleBytes),
    health_ok: healthOk,
    ping_ok: pingOk,
    deploy_cpu_ms_per_gw: deployCpu,
    ping_cpu_ms_per_gw: pingCpu,
    health_cpu_ms_per_gw: healthCpu,
    health_bytes: round((platform.responseBytes() - rb0) / Math.max(1, healthOk)),
    reconnects,
    rss_mb_per_gw: round(hostRss.reduce((a, b) => a + b, 0) / started, 2),
    target_met: tally.confirmed === N && deployAllConfirmed < 10_000,
  };
  console.log(JSON.stringify(out));
} finally {
  for (const h of hosts) if (h.exitCode === null && h.signalCode === null) h.kill('SIGKILL');
  await broker.destroy();
  rmSync(dir, { recursive: true, force: true });
}

/** ms until the wall clock's seconds are `sec` (the next time). */
function msUntilSecond(sec: number): number {
  const now = Date.now();
  const into = now % 60_000;
  const want = sec * 1000;
  return want > into ? want - into : 60_000 - into + want;
}

function pct(xs: number[], q: number): number {
  const a = [...xs].sort((x, y) => x - y);
  return a.length ? a[Math.min(a.length - 1, Math.floor(q * a.length))] : NaN;
}

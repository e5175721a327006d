// LoRaWAN uplink benchmark, end to end: a packet forwarder in a child process (so this
// process's CPU is the driver's and the codec worker's) sends PUSH_DATA datagrams over loopback UDP, one rxpk each, for
// SENSORS ABP sensors with frames built by the tests' own LoRaWAN crypto; the driver checks MIC
// and FCnt, dedups, decrypts, runs the JavaScript codec and emits readings on the bus. Measured:
// uplinks/s from the first datagram to the last reading, latency datagram-sent -> reading (p50,
// p99; it includes the dedup window, 200 ms by default, which every uplink waits out), and the
// baseline in the same run: bare lora-packet fromWire + verifyMIC + decrypt of the same frames.
// The forwarder keeps at most WINDOW datagrams unread by the listener (the kernel's UDP buffer
// is small; nothing is dropped on purpose). Last line: one JSON object.
// Run: PATH=$PWD/node_modules/.bin:$PATH node bench/lora.bench.ts
import { fork, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBus } from '../runtime/bus.ts';
import { clockIds } from '../runtime/ids.ts';
import { silentLog } from '../runtime/log.ts';
import type { Clock, Ctx } from '../runtime/types.ts';
import { createCodecLoader } from '../drivers/lora/codec-loader.ts';
import type { CodecSpec } from '../drivers/lora/codec-types.ts';
import { loraFamily } from '../drivers/lora/definition.ts';
import type { LoraDriver } from '../drivers/lora/device.ts';
import loraPacket from '../drivers/lora/lorapacket.ts';
import { loraSchema } from '../drivers/lora/schema.ts';
import { buildDataUp } from '../test/support/lora/crypto.ts';

const SENSORS = Number(process.env.LORA_BENCH_SENSORS ?? 100);
const FRAMES = Number(process.env.LORA_BENCH_FRAMES ?? 30_000);
const DEDUP = process.env.LORA_BENCH_DEDUP ?? '200ms';
const WINDOW = Number(process.env.LORA_BENCH_WINDOW ?? 300);
const BASELINE_FRAMES = 5000;
const NWK = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex');
const APP = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
const addr = (i: number) => (0x26000000 + i) >>> 0;
const now = () => performance.timeOrigin + performance.now();

/** Frame k goes to sensor k % SENSORS with that sensor's next counter; its payload carries k. */
function frames(): Buffer[] {
  const out: Buffer[] = [];
  for (let k = 0; k < FRAMES; k++) {
    const p = Buffer.alloc(8);
    p.writeUInt32BE(k, 0);
    p.writeInt16BE(215 + (k % 50), 4);
    p[6] = 80;
    p[7] = 87;
    out.push(buildDataUp({ devAddr: addr(k % SENSORS), fcnt: Math.floor(k / SENSORS), fPort: 2, payload: p, nwkSKey: NWK, appSKey: APP }));
  }
  return out;
}

// The codec under test: a vendor-style decodeUplink.
const CODEC_SOURCE = `function decodeUplink(input) {
  var b = input.bytes;
  var t = (b[4] << 8) | b[5]; if (t & 0x8000) t -= 0x10000;
  return { data: { seq: ((b[0] << 24) >>> 0) + (b[1] << 16) + (b[2] << 8) + b[3], temperature_1: t / 10, env: { humidity: b[6] / 2 }, battery: b[7] } };
}
`;

if (process.argv[2] === '--forwarder') {
  // Child: the packet forwarder.
  const port = Number(process.argv[3]);
  const all = frames();
  const eui = Buffer.from('aa555a0000000001', 'hex');
  const sock = createSocket('udp4');
  const sent = new Float64Array(all.length);
  let i = 0;
  let credit = 0;
  const pump = () => {
    let n = 0;
    while (credit > 0 && i < all.length && n < 64) {
      const phy = all[i];
      const json = `{"rxpk":[{"tmst":${(i * 1000) >>> 0},"chan":0,"rfch":0,"freq":868.1,"stat":1,"modu":"LORA","datr":"SF7BW125","codr":"4/5","rssi":-${60 + (i % 40)},"lsnr":7.5,"size":${phy.length},"data":"${phy.toString('base64')}"}]}`;
      const d = Buffer.concat([Buffer.from([2, (i >> 8) & 0xff, i & 0xff, 0]), eui, Buffer.from(json)]);
      sent[i] = now();
      sock.send(d, port, '127.0.0.1');
      i++;
      credit--;
      n++;
    }
    if (i === all.length) {
      process.send!({ done: true, sent: Array.from(sent) });
      return;
    }
    if (credit > 0) setImmediate(pump);
  };
  process.on('message', (m: { credit?: number; exit?: boolean }) => {
    if (m.exit) process.exit(0);
    const idle = credit === 0;
    credit += m.credit ?? 0;
    if (idle) pump();
  });
  process.send!({ ready: true });
} else {
  const dir = mkdtempSync(join(tmpdir(), 'lora-bench-'));
  const codecFile = join(dir, 'codec.js');
  writeFileSync(codecFile, CODEC_SOURCE);
  // The codec spec: the one line to change (e.g. { kind: 'cayenne' }).
  const CODEC = { kind: 'js', file: codecFile, timeoutMs: 1000 } as CodecSpec;
  const loader = createCodecLoader();
  const which = CODEC.kind === 'js' ? 'JavaScript codec file in the codec worker (drivers/lora/codecs)' : 'Cayenne LPP';

  const log = silentLog();
  const bus = createBus(log);
  const clock: Clock = { now: () => Date.now(), mono: () => performance.now(), trusted: () => true, flag: () => undefined };
  const ctx: Ctx = { bus, log, clock, newId: clockIds(clock) };
  // Every sensor gets CODEC (the config below names a codec only so that one is loaded).
  const def = loraFamily({ loadCodec: (_spec, l) => loader(CODEC, l) });
  const sensors: LoraDriver[] = [];
  for (let i = 0; i < SENSORS; i++) {
    const cfg = loraSchema.parse({
      mode: 'abp', devEui: (0x70b3d57ed0000000n + BigInt(i)).toString(16).padStart(16, '0'), devAddr: addr(i).toString(16).padStart(8, '0'),
      nwkSKey: NWK.toString('hex'), appSKey: APP.toString('hex'), listen: 'udp://127.0.0.1:0', dedupWindow: DEDUP, codec: 'cayenne',
      points: { temperature_1: { unit: '°C' }, 'env.humidity': { unit: '%' }, battery: { unit: '%' }, seq: {} },
    });
    const s = (await def.create({ id: `s-${i}`, driver: 'lora', ...cfg }, ctx)) as unknown as LoraDriver;
    await s.start();
    sensors.push(s);
  }
  const port = Number(sensors[0].health().lora.listener!.address!.split(':').pop());
  const recv = new Float64Array(FRAMES);
  let received = 0;
  let lastAt = 0;
  bus.on('reading', 'bench', (r) => {
    if (r.point !== 'seq') return;
    recv[r.value as number] = now();
    received++;
    lastAt = recv[r.value as number];
  });

  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--forwarder', String(port)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let sentTimes: number[] | undefined;
  await new Promise<void>((r) => child.once('message', () => r()));
  child.on('message', (m: { done?: boolean; sent?: number[] }) => {
    if (m.done) sentTimes = m.sent;
  });
  // Credits: keep at most WINDOW datagrams between the forwarder and the listener's handler.
  const datagrams = () => sensors[0].health().lora.listener!.datagrams;
  let granted = WINDOW;
  child.send({ credit: WINDOW });
  const cpu0 = process.cpuUsage();
  let lastProgress = performance.now();
  let lastSeen = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const d = datagrams();
      if (d !== lastSeen) {
        lastSeen = d;
        lastProgress = performance.now();
      }
      if (granted < FRAMES && granted - d < WINDOW) {
        const more = Math.min(FRAMES - granted, WINDOW - (granted - d));
        granted += more;
        child.send({ credit: more });
      }
      if ((received >= FRAMES && sentTimes) || performance.now() - lastProgress > 3000) return resolve();
      setTimeout(tick, 1);
    };
    tick();
  });
  const cpu = process.cpuUsage(cpu0);
  child.send({ exit: true });
  const sent = sentTimes ?? [];
  const first = sent.length ? sent[0] : now();
  const lat: number[] = [];
  for (let k = 0; k < FRAMES; k++) if (recv[k] && sent[k]) lat.push(recv[k] - sent[k]);
  lat.sort((a, b) => a - b);
  const pct = (p: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] : NaN);
  const elapsedS = (lastAt - first) / 1000;
  const uplinksPerS = received / elapsedS;
  const h0 = sensors[0].health().lora.listener!;
  for (const s of sensors) await s.stop();
  rmSync(dir, { recursive: true, force: true });

  // Baseline: the same frames through bare lora-packet (parse, MIC, decrypt), no codec, no bus.
  const all = frames().slice(0, BASELINE_FRAMES);
  const b0 = performance.now();
  let ok = 0;
  for (let k = 0; k < all.length; k++) {
    const p = loraPacket.fromWire(all[k]);
    const msb = Buffer.alloc(2);
    msb.writeUInt16LE(Math.floor(k / SENSORS) >>> 16);
    if (loraPacket.verifyMIC(p, NWK, undefined, msb) && loraPacket.decrypt(p, APP, NWK, msb).length === 8) ok++;
  }
  const baselinePerS = ok / ((performance.now() - b0) / 1000);

  console.log(`codec: ${which}; ${SENSORS} ABP sensors, ${FRAMES} uplinks, dedup window ${DEDUP}, one rxpk per datagram, forwarder window ${WINDOW}`);
  console.log(`end to end: ${received}/${FRAMES} uplinks decoded in ${elapsedS.toFixed(2)} s = ${uplinksPerS.toFixed(0)} uplinks/s; CPU ${(((cpu.user + cpu.system) / 1e6 / elapsedS) * 100).toFixed(0)}% of one core`);
  console.log(`latency datagram -> reading: p50 ${pct(50).toFixed(1)} ms, p99 ${pct(99).toFixed(1)} ms, max ${pct(100).toFixed(1)} ms (includes the ${DEDUP} dedup window)`);
  console.log(`listener: ${h0.datagrams} datagrams, refused ${JSON.stringify(h0.counters)}; lost in the kernel ${FRAMES - h0.datagrams}`);
  console.log(`baseline bare lora-packet decode+MIC+decrypt: ${baselinePerS.toFixed(0)} frames/s (${ok}/${all.length} ok); ratio ${(uplinksPerS / baselinePerS).toFixed(2)}`);
  console.log(`target >= 5000 uplinks/s: ${uplinksPerS >= 5000 ? 'met' : 'NOT met'}`);
  console.log(JSON.stringify({ uplinks_per_s: Math.round(uplinksPerS), latency_p99_ms: Number(pct(99).toFixed(1)), baseline_per_s: Math.round(baselinePerS), ratio: Number((uplinksPerS / baselinePerS).toFixed(2)) }));
  process.exit(0);
}

// `serial`: sensors that stream on a serial line (particulate sensors, GPS receivers, text
// sensors). The port reopens by itself after an unplug (createSerialLine); each valid frame is
// a success and each bad frame, port error or silence a failure on the shared device monitor,
// which owns the device state, the device.fault events and the health counters.
import type { Ctx, DeviceHealth, Driver } from '../../runtime/types.ts';
import { createDeviceMonitor } from '../common/device-monitor.ts';
import { createSerialLine } from '../common/serial-line.ts';
import { refuseWrite } from '../common/write.ts';
import { createBinaryDecoder } from './binary.ts';
import type { DecodeResult, Decoder, DecoderStats } from './decoder.ts';
import { regexGroups, type SerialFormat, type SerialProfile } from './format.ts';
import { createNmeaDecoder, NMEA_POINTS } from './nmea.ts';
import type { SerialConfig } from './schema.ts';
import { createTextDecoder } from './text.ts';

export { serialSchema, SERIAL_DESCRIPTION, type SerialConfig } from './schema.ts';

/** A device config the driver cannot run with (caught at create, named by device and key). */
export class SerialConfigError extends Error {
  readonly device: string;
  constructor(device: string, message: string) {
    super(`serial device "${device}": ${message}`);
    this.name = 'SerialConfigError';
    this.device = device;
  }
}

/** The point names a format produces (for write refusals). */
function pointNames(f: SerialFormat): string[] {
  if (f.type === 'nmea') return Object.keys(NMEA_POINTS);
  if (f.fields) return f.fields.map((x) => x.point);
  const groups = f.type === 'text' && f.regex !== undefined ? regexGroups(f.regex) : [];
  return typeof groups === 'string' ? [] : groups;
}

export function createDecoder(format: SerialFormat): Decoder {
  if (format.type === 'binary') return createBinaryDecoder(format);
  if (format.type === 'text') return createTextDecoder(format);
  return createNmeaDecoder();
}

/** The profile or inline format the device uses, with line settings (the device's win). */
export function resolveSerialDevice(cfg: SerialConfig): SerialProfile {
  if ((cfg.profile === undefined) === (cfg.format === undefined)) {
    throw new SerialConfigError(cfg.id, cfg.profile ? 'give either profile or format, not both' : 'needs a profile (like pms5003) or a format');
  }
  const base: SerialProfile = cfg.profile ?? { description: 'inline format', format: cfg.format! };
  return {
    ...base,
    baudRate: cfg.baudRate ?? base.baudRate ?? 9600,
    dataBits: cfg.dataBits ?? base.dataBits,
    parity: cfg.parity ?? base.parity,
    stopBits: cfg.stopBits ?? base.stopBits,
  };
}

export interface SerialHealth extends DeviceHealth {
  errorsByKind: Record<string, number>;
  framing: DecoderStats & { throttled: number; opens: number };
}

export interface SerialDriver extends Driver {
  health(): SerialHealth;
}

export function createSerialDriver(cfg: SerialConfig, ctx: Ctx): SerialDriver {
  const log = ctx.log; // already carries { mod, device } (runtime/agent.ts)
  const dev = resolveSerialDevice(cfg);
  const decoder = createDecoder(dev.format);
  const monitor = createDeviceMonitor({ ...ctx, log }, { device: cfg.id, driver: 'serial' });
  const lastEmit = new Map<string, number>();
  let throttled = 0;
  let running = false;
  let lastSign = 0; // mono ms of the last valid frame, port open or silence failure
  let timer: NodeJS.Timeout | undefined;

  const handle = (r: DecodeResult, now: number): void => {
    if (r.kind === 'error') {
      log.debug({ fault: r.fault, err: r.message }, 'bad frame');
      monitor.fail(r.fault, new Error(r.message));
      return;
    }
    lastSign = now;
    for (const v of r.values) {
      if (cfg.minInterval !== undefined) {
        const prev = lastEmit.get(v.point);
        if (prev !== undefined && now - prev < cfg.minInterval) { throttled++; continue; }
        lastEmit.set(v.point, now);
      }
      monitor.reading({ point: v.point, value: v.value, unit: v.unit, quality: v.quality });
    }
    if (r.errors.length) monitor.fail('protocol', new Error(r.errors.join('; ')));
    else monitor.ok();
  };

  const line = createSerialLine(
    {
      path: cfg.port,
      baudRate: dev.baudRate ?? 9600,
      dataBits: dev.dataBits,
      parity: dev.parity,
      stopBits: dev.stopBits,
      reopen: { minMs: cfg.reopen.min, maxMs: Math.max(cfg.reopen.min, cfg.reopen.max) },
    },
    {
      log,
      onData: (chunk) => {
        const now = ctx.clock.mono();
        try {
          for (const r of decoder.push(chunk)) handle(r, now);
        } catch (err) {
          // A decoder bug must not take the agent down: count it and start clean.
          log.error({ err }, 'serial decoder failed');
          decoder.reset();
          monitor.fail('protocol', err);
        }
      },
      onOpen: () => {
        decoder.reset(); // bytes from before the reopen belong to no frame
        lastSign = ctx.clock.mono();
        log.info({ port: cfg.port, baudRate: dev.baudRate }, 'serial port open');
      },
      onDown: (err) => {
        if (running) monitor.fail('io', err);
      },
    },
  );

  const checkSilence = (): void => {
    const now = ctx.clock.mono();
    // A closed port is already failing as 'io' on each reopen attempt.
    if (!line.isOpen() || now - lastSign < cfg.silenceTimeout) return;
    lastSign = now;
    monitor.fail('timeout', new Error(`no valid frame for ${cfg.silenceTimeout} ms on ${cfg.port}`));
  };

  return {
    write: refuseWrite('serial', cfg.id, pointNames(dev.format)),
    async start() {
      if (running) return;
      running = true;
      monitor.started();
      lastSign = ctx.clock.mono();
      log.info({ port: cfg.port, profile: cfg.profile?.ref, format: dev.format.type, baudRate: dev.baudRate }, 'serial device started');
      line.start();
      timer = setInterval(checkSilence, Math.max(20, Math.min(1000, Math.floor(cfg.silenceTimeout / 4))));
    },
    async stop() {
      running = false;
      clearInterval(timer);
      timer = undefined;
      await line.stop();
      monitor.stopped();
    },
    health: () => ({ ...monitor.health(), framing: { ...decoder.stats(), throttled, opens: line.opens() } }),
  };
}

// The local Modbus TCP server as a Service: the pole's other controllers (signal controller,
// LED screen, a local SCADA) read the gateway's latest readings, with a quality and an age
// register, and may write the points mapped writable (through the same path as the platform's
// `write` command). modbus-serial's ServerTCP speaks the protocol; this file feeds its register
// callbacks from the register image (map.ts), refuses clients outside the allow-list as soon as
// they connect, and counts what happened for the `modbus-server` health section and /metrics.
import type { AddressInfo, Server, Socket } from 'node:net';
import { configSection } from '../../runtime/config/index.ts';
import type { Service, ServiceCtx, ServiceHealth, ServiceMetric } from '../../runtime/service.ts';
import type { Bus, Clock, Log } from '../../runtime/types.ts';
import { createAllowList, type AllowList } from './allow.ts';
import { checkMappings, type DevicePoints } from './check.ts';
import { createRegisterMap, modbusException, type RegisterMap } from './map.ts';
import type { ModbusServerConfig, RegisterMapping } from './schema.ts';

export const SERVICE_NAME = 'modbus-server';
/** Config section (top-level key) the lead registers with `modbusServerSection`. */
export const SECTION = 'modbusServer';

/** Staleness limit when neither the mapping, the section nor the device sets one. */
const DEFAULT_STALE_MS = 5 * 60_000;
const STOP_MS = 1500;
/** Distinct refused client addresses logged (each once); more are only counted. */
const LOGGED_REFUSALS = 64;

export interface ModbusServerDeps {
  /** The platform's write path (devices service `write`); rejects when the device refuses. */
  write(device: string, point: string, value: unknown): Promise<unknown>;
  /** The devices and their points (devices service `list`); undefined points = the driver cannot tell. */
  points?(): DevicePoints[];
}

export interface ModbusServerService extends Service {
  /** Address and port listened on, once started (undefined when disabled or stopped). */
  address(): { host: string; port: number } | undefined;
}

interface ServerTcp {
  _server: Server;
  on(event: string, fn: (...args: unknown[]) => void): unknown;
  once(event: string, fn: (...args: unknown[]) => void): unknown;
  close(cb: (err?: unknown) => void): void;
}

export function createModbusServerService(deps: ModbusServerDeps): ModbusServerService {
  let cfg: ModbusServerConfig | undefined;
  let server: ServerTcp | undefined;
  let map: RegisterMap | undefined;
  let bus: Bus | undefined;
  let clock: Clock | undefined;
  let log: Log | undefined;
  let listening: { host: string; port: number } | undefined;
  let runtimeError: string | undefined;
  let allow: AllowList | undefined;
  const clients = new Set<Socket>();
  const refusedLogged = new Set<string>();
  const stats = {
    requests: 0,
    responses: 0,
    exceptions: {} as Record<string, number>,
    refused: { notAllowed: 0, tooMany: 0 },
    idleClosed: 0,
    writes: { ok: 0, refused: 0, failed: 0 },
    readings: 0,
  };

  const mono = () => clock!.mono();

  /** A write request (fc6 or fc16): decoded, checked, then passed to the devices one mapping at a time. */
  const write = async (address: number, words: number[]): Promise<void> => {
    let decoded;
    try {
      decoded = map!.decodeWrite(address, words);
      const devices = deps.points?.();
      for (const d of decoded) {
        const m = d.slot.mapping;
        const info = devices?.find((x) => x.id === m.device)?.points?.find((p) => p.name === m.name);
        if (!info) continue; // the driver cannot tell its points: the device checks the value itself
        if (!info.writable) throw modbusException(2, `${m.point} is not writable on its device`);
        if (info.type === 'boolean' && typeof d.value === 'number') {
          if (d.value !== 0 && d.value !== 1) throw modbusException(3, `${m.point} is a boolean point: expected 0 or 1, got ${d.value}`);
          d.value = d.value === 1;
        }
        if (typeof d.value === 'number' && ((info.min !== undefined && d.value < info.min) || (info.max !== undefined && d.value > info.max))) {
          throw modbusException(3, `${m.point}: ${d.value} is outside ${info.min ?? '-inf'}..${info.max ?? 'inf'}`);
        }
      }
    } catch (err) {
      stats.writes.refused++;
      log?.warn({ address, registers: words.length, err: (err as Error).message }, 'modbus write refused');
      throw err;
    }
    for (const d of decoded) {
      const m = d.slot.mapping;
      try {
        await deps.write(m.device, m.name, d.value);
      } catch (err) {
        stats.writes.failed++;
        log?.warn({ device: m.device, point: m.name, value: d.value, err: (err as Error).message }, 'modbus write failed on the device');
        throw modbusException(4, `${m.point}: ${(err as Error).message}`);
      }
      log?.info({ device: m.device, point: m.name, value: d.value }, 'modbus client wrote a point');
    }
    stats.writes.ok++;
  };

  // modbus-serial picks each callback's calling convention by its arity: keep every parameter,
  // used or not (2 = (addr, unitID) sync, 3 = (addr, len|value, unitID) sync or promise).
  const noBits = (what: string) => {
    throw modbusException(1, `this server has no ${what}`);
  };
  const vector = {
    getHoldingRegister: (addr: number, _unit: number) => map!.read('holding', addr, 1, mono())[0],
    getMultipleHoldingRegisters: (addr: number, len: number, _unit: number) => map!.read('holding', addr, len, mono()),
    getInputRegister: (addr: number, _unit: number) => map!.read('input', addr, 1, mono())[0],
    getMultipleInputRegisters: (addr: number, len: number, _unit: number) => map!.read('input', addr, len, mono()),
    getCoil: (_addr: number, _unit: number) => noBits('coils'),
    getDiscreteInput: (_addr: number, _unit: number) => noBits('discrete inputs'),
    setCoil: (_addr: number, _value: boolean, _unit: number) => noBits('coils'),
    setRegister: (addr: number, value: number, _unit: number) => write(addr, [value]),
    setRegisterArray: (addr: number, values: number[], _unit: number) => write(addr, values),
  };

  /** First on every accepted connection, before ServerTCP's own handler: refuse, or watch it. */
  const onConnection = (sock: Socket) => {
    const c = cfg!;
    const remote = sock.remoteAddress ?? '?';
    const allowed = allow!.allows(sock.remoteAddress);
    if (!allowed || clients.size >= c.maxClients) {
      if (!allowed) stats.refused.notAllowed++;
      else stats.refused.tooMany++;
      const why = allowed ? `${c.maxClients} clients already connected (maxClients)` : 'not in modbusServer.allow';
      if (refusedLogged.size < LOGGED_REFUSALS && !refusedLogged.has(`${remote} ${why}`)) {
        refusedLogged.add(`${remote} ${why}`);
        log?.warn({ client: remote, reason: why }, 'modbus client refused');
      }
      sock.destroy();
      return;
    }
    clients.add(sock);
    sock.once('close', () => clients.delete(sock));
    sock.setKeepAlive(true, 30_000);
    sock.setTimeout(c.idleTimeout, () => {
      stats.idleClosed++;
      sock.destroy();
    });
    log?.debug({ client: remote }, 'modbus client connected');
    // Requests as framed by their MBAP length (answered or not: a wrong unit id gets no answer).
    let pending: Buffer = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 6 && pending.length >= 6 + pending.readUInt16BE(4)) {
        stats.requests++;
        pending = pending.subarray(6 + pending.readUInt16BE(4));
      }
    });
    // Responses, as ServerTCP writes them (one MBAP frame per write): exceptions by code.
    const send = sock.write;
    sock.write = function (this: Socket, ...args: unknown[]) {
      const frame = args[0];
      if (Buffer.isBuffer(frame) && frame.length >= 8) {
        stats.responses++;
        if (frame[7] & 0x80 && frame.length >= 9) stats.exceptions[frame[8]] = (stats.exceptions[frame[8]] ?? 0) + 1;
      }
      return (send as (...a: unknown[]) => boolean).apply(this, args);
    } as Socket['write'];
  };

  const qualityCounts = () => {
    const counts = { good: 0, uncertain: 0, bad: 0, none: 0 };
    const names = ['good', 'uncertain', 'bad', 'none'] as const;
    if (map && clock) for (const s of map.slots) counts[names[map.quality(s, mono())]]++;
    return counts;
  };

  const stop = async () => {
    bus?.off(SERVICE_NAME);
    const s = server;
    server = undefined;
    listening = undefined;
    if (!s) return;
    await Promise.race([new Promise<void>((r) => s.close(() => r())), new Promise<void>((r) => setTimeout(r, STOP_MS).unref())]);
    for (const sock of clients) sock.destroy();
    clients.clear();
  };

  return {
    name: SERVICE_NAME,
    address: () => listening,

    async start(ctx: ServiceCtx) {
      log = ctx.log;
      clock = ctx.clock;
      bus = ctx.bus;
      cfg = configSection<ModbusServerConfig>(ctx.config, SECTION);
      if (!cfg?.enabled) {
        log.debug('modbus server disabled (modbusServer.enabled: false)');
        return;
      }
      const c = cfg;
      let running: DevicePoints[] | undefined;
      try {
        running = deps.points?.();
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'device points unavailable: mapped point names are not checked');
      }
      const check = checkMappings(ctx.config, c.registers, running);
      if (check.errors.length) throw new Error(`modbus server not started: ${check.errors.join('; ')}`);
      for (const w of check.warnings) log.warn(w);
      const offlineAfter = new Map(ctx.config.devices.map((d) => [d.id, d.offlineAfter]));
      const staleAfter = (m: RegisterMapping) => m.staleAfter ?? c.staleAfter ?? offlineAfter.get(m.device) ?? DEFAULT_STALE_MS;
      map = createRegisterMap(c.registers, staleAfter);
      allow = createAllowList(c.allow);
      const image = map;
      ctx.bus.on('reading', SERVICE_NAME, (r) => {
        if (image.update(r, ctx.clock.now(), ctx.clock.mono())) stats.readings++;
      });

      // Loaded only when the server is enabled.
      const { default: ModbusRTU } = await import('modbus-serial');
      const s = new ModbusRTU.ServerTCP(vector as never, { host: c.host, port: c.port, unitID: c.unitId }) as unknown as ServerTcp;
      server = s;
      s._server.prependListener('connection', onConnection);
      s.on('socketError', (err) => log?.debug({ err: (err as Error)?.message }, 'modbus client socket error'));
      s.on('error', (err) => log?.warn({ err: (err as Error)?.message }, 'modbus server error'));
      try {
        await new Promise<void>((resolve, reject) => {
          s.once('initialized', () => resolve());
          s.once('serverError', (err) => reject(err));
        });
      } catch (err) {
        await stop();
        throw new Error(listenError(c, err as NodeJS.ErrnoException));
      }
      s.on('serverError', (err) => {
        runtimeError = (err as Error)?.message ?? String(err);
        log?.error({ err: runtimeError }, 'modbus server error');
      });
      const addr = s._server.address() as AddressInfo;
      listening = { host: addr.address, port: addr.port };
      log.info({ host: addr.address, port: addr.port, unitId: c.unitId === 255 ? 'any' : c.unitId, registers: c.registers.length, allow: c.allow }, 'modbus server listening');
    },

    stop,

    health(): ServiceHealth {
      if (!cfg?.enabled) return { section: { enabled: false }, problems: [] };
      const section = {
        enabled: true,
        listening: listening ? `${listening.host}:${listening.port}` : null,
        unitId: cfg.unitId === 255 ? 'any' : cfg.unitId,
        clients: clients.size,
        requests: stats.requests,
        responses: stats.responses,
        exceptions: { ...stats.exceptions },
        refusedConnections: { ...stats.refused },
        idleClosed: stats.idleClosed,
        writes: { ...stats.writes },
        readings: stats.readings,
        points: qualityCounts(),
        ...(runtimeError && { lastError: runtimeError }),
      };
      return { section, problems: runtimeError ? [`modbus server: ${runtimeError}`] : [] };
    },

    metrics(): ServiceMetric[] {
      if (!cfg?.enabled) return [];
      const q = qualityCounts();
      return [
        { name: 'modbus_server_clients', type: 'gauge', help: 'Modbus TCP clients connected', samples: [[{}, clients.size]] },
        { name: 'modbus_server_requests_total', type: 'counter', help: 'Modbus requests received', samples: [[{}, stats.requests]] },
        {
          name: 'modbus_server_exceptions_total', type: 'counter', help: 'Modbus exception responses sent, by exception code',
          samples: Object.entries(stats.exceptions).map(([code, n]) => [{ code }, n]),
        },
        {
          name: 'modbus_server_refused_connections_total', type: 'counter', help: 'connections closed at once, by reason',
          samples: [[{ reason: 'not_allowed' }, stats.refused.notAllowed], [{ reason: 'max_clients' }, stats.refused.tooMany]],
        },
        {
          name: 'modbus_server_writes_total', type: 'counter', help: 'client writes: ok, refused (exception 2/3) or failed on the device (exception 4)',
          samples: [[{ result: 'ok' }, stats.writes.ok], [{ result: 'refused' }, stats.writes.refused], [{ result: 'failed' }, stats.writes.failed]],
        },
        {
          name: 'modbus_server_points', type: 'gauge', help: 'mapped points by the quality register they show',
          samples: (Object.keys(q) as (keyof typeof q)[]).map((k) => [{ quality: k }, q[k]]),
        },
      ];
    },
  };
}

function listenError(c: ModbusServerConfig, err: NodeJS.ErrnoException): string {
  const where = `${c.host}:${c.port}`;
  switch (err?.code) {
    case 'EADDRINUSE': return `modbusServer.port: ${where} is already in use by another program`;
    case 'EACCES': return `modbusServer.port: listening on port ${c.port} needs privileges (ports below 1024: give the agent CAP_NET_BIND_SERVICE, or use a port >= 1024 like 5020)`;
    case 'EADDRNOTAVAIL': return `modbusServer.host: ${c.host} is not an address of this gateway's network interfaces`;
    default: return `modbusServer: cannot listen on ${where}: ${err?.message ?? String(err)}`;
  }
}

// Moves records from the outbox to the broker: batches, a bounded window of unacked publishes,
// and acks in the outbox only for the contiguous PUBACKed prefix (a record leaves the outbox
// only after the broker has it). Knows nothing about connecting; index.ts drives it.
import type { Log, Outbox, RecordKind, StoredBatch, StoredRecord } from '../types.ts';
import { batchHead, BATCH_TAIL } from './protocol.ts';

/**
 * PUBACKed prefixes are handed to outbox.ack() at most this often: an ack is a durable delete
 * (a commit with fsync), so one per PUBACK would cap the drain rate. Delaying it only risks
 * duplicates after a crash, which at-least-once allows.
 */
const ACK_COALESCE_MS = 25;
/**
 * Batches built per turn of the event loop; then pump() yields (setImmediate) and goes on. A
 * full window built at once (16 batches of 500) held the loop for tens of milliseconds.
 */
const BATCHES_PER_TURN = 2;
/** Refusals of one record (PUBACK reason code >= 0x80) before it is set aside. */
export const DEFAULT_MAX_REFUSALS = 3;

export interface SenderConfig {
  gateway: string;
  maxBatchRecords: number;
  maxPayloadBytes: number;
  up(kind: RecordKind): string;
  /** A record the broker refuses this many times is set aside (outbox.setAside). Default 3. */
  maxRefusals?: number;
}

export interface SenderDeps {
  outbox: Outbox;
  log: Log;
  rewrite?: (r: StoredRecord) => string;
}

/** One connection's way to publish, given to begin(). */
export interface Link {
  publish(topic: string, payload: string, done: (err?: Error) => void): void;
  /** Max unacked data publishes right now (inflight option, broker receive-maximum, control traffic). */
  window(): number;
  /** Payload limit for this connection (the option, capped by the broker's maximum packet size). */
  maxPayloadBytes: number;
  /** A publish failed (not a refusal by reason code): the caller drops the connection. */
  onError(err: Error): void;
}

interface Flight {
  firstSeq: number;
  lastSeq: number;
  count: number;
  acked: boolean;
  kind: RecordKind;
}

/** The MQTT 5 reason code of a refused publish (mqtt.js puts it in err.code), else undefined. */
export function refusalCode(err: Error): number | undefined {
  const c = (err as { code?: unknown }).code;
  return typeof c === 'number' && c >= 0x80 ? c : undefined;
}

export interface Sender {
  begin(link: Link): void;
  /** Connection gone: forget every in-flight publish, resend from the outbox ack cursor next time. */
  end(): void;
  pump(): void;
  /** Hand the PUBACKed prefix to the outbox now (stop, disconnect). */
  flushAck(): void;
  inflight(): number;
  counters(): { sent: number; acked: number; lastAckTs?: number; refused: number; setAside: number };
}

export function createSender(cfg: SenderConfig, deps: SenderDeps): Sender {
  const head = batchHead(cfg.gateway);
  const frameBytes = Buffer.byteLength(head) + BATCH_TAIL.length;
  // Records read ahead of the window; refilled in pages so a batch rarely spans two peeks.
  const page = Math.min(Math.max(cfg.maxBatchRecords * 2, 1000), 10_000);

  let link: Link | undefined;
  let gen = 0;
  let window: Flight[] = [];
  let buf: StoredRecord[] = [];
  let bufAt = 0;
  /** Batches cut and joined by the store (Outbox.batches), when it has that fast path. */
  let wire: StoredBatch[] = [];
  let wireAt = 0;
  let reading = false;
  /** Seq of the last record read from the outbox in this connection; undefined = from the ack cursor. */
  let cursor: number | undefined;
  let pumping = false;
  let sent = 0;
  let acked = 0;
  let lastAckTs: number | undefined;
  let rewriteErrors = 0;
  let ackUpto: number | undefined;
  let ackTimer: NodeJS.Timeout | undefined;
  let again: NodeJS.Immediate | undefined;
  let refused = 0;
  let setAside = 0;
  const maxRefusals = cfg.maxRefusals ?? DEFAULT_MAX_REFUSALS;
  /** Refusals per record seq, while it is being retried alone. */
  const refusals = new Map<number, number>();

  const flushAck = () => {
    clearTimeout(ackTimer);
    ackTimer = undefined;
    if (ackUpto === undefined) return;
    const upto = ackUpto;
    ackUpto = undefined;
    try {
      deps.outbox.ack(upto);
    } catch (err) {
      // The records stay stored and are sent again: a duplicate, never a loss.
      deps.log.error({ err, upto }, 'outbox ack failed');
    }
  };

  const next = (): StoredRecord | undefined => {
    if (bufAt >= buf.length) {
      try {
        buf = deps.outbox.peek(page, cursor);
      } catch (err) {
        // The outbox is closing (agent stop) or failing: send nothing more now, never throw
        // into the MQTT client's callbacks.
        deps.log.warn({ err }, 'outbox peek failed');
        buf = [];
      }
      bufAt = 0;
      if (buf.length === 0) return undefined;
      cursor = buf[buf.length - 1].seq;
    }
    return buf[bufAt];
  };

  const jsonOf = (r: StoredRecord): string => {
    if (!deps.rewrite) return r.json;
    try {
      return deps.rewrite(r);
    } catch (err) {
      // A broken rewrite must not block the outbox: send the stored form and say so (once in a while).
      if (rewriteErrors++ % 1000 === 0) deps.log.error({ err, seq: r.seq, id: r.id, errors: rewriteErrors }, 'record rewrite failed; sending stored json');
      return r.json;
    }
  };

  /**
   * With a store that reads for us off the main thread (Outbox.readBatches), batches arrive
   * joined and are sent as they are: no object per record, no re-join. Reads run ahead of the
   * window so the next batches are there when PUBACKs come. Only a batch holding a record
   * stamped by an untrusted clock goes through the rewrite, record by record.
   */
  const takeWire = (maxBytes: number): { kind: RecordKind; payload: string; flight: Flight } | undefined => {
    if (wire.length - wireAt <= 2 * (link?.window() ?? 1)) readAhead(maxBytes);
    if (wireAt >= wire.length) return undefined;
    const b = wire[wireAt++];
    let json = b.json;
    if (deps.rewrite && json.includes('"untrusted"')) {
      try {
        json = deps.outbox.peek(b.count, b.firstSeq - 1).filter((r) => r.seq <= b.lastSeq).map(jsonOf).join(',');
      } catch (err) {
        deps.log.warn({ err }, 'outbox peek failed'); // closing: the stored form goes
      }
    }
    return { kind: b.kind, payload: head + json + BATCH_TAIL, flight: { firstSeq: b.firstSeq, lastSeq: b.lastSeq, count: b.count, acked: false, kind: b.kind } };
  };

  const readAhead = (maxBytes: number) => {
    if (reading) return;
    reading = true;
    const myGen = gen;
    const after = cursor ?? 0;
    deps.outbox.readBatches!(after, cfg.maxBatchRecords, maxBytes - frameBytes, Math.min(64, Math.max(4, Math.ceil(8000 / cfg.maxBatchRecords))))
      .then((got) => {
        if (myGen !== gen) return; // read for a connection that is gone
        reading = false;
        if (got.length === 0) return; // nothing more now: the poll timer or a kick reads again
        if (wireAt > 0) { wire = wire.slice(wireAt); wireAt = 0; }
        wire.push(...got);
        cursor = got[got.length - 1].lastSeq;
        pump();
      }, (err: unknown) => {
        if (myGen === gen) reading = false;
        // The outbox is closing (agent stop) or failing: send nothing more now.
        deps.log.warn({ err }, 'outbox read failed');
      });
  };

  /** A contiguous run of one kind, bounded by record count and payload bytes. */
  const takeBatch = (maxBytes: number): { kind: RecordKind; payload: string; flight: Flight } | undefined => {
    if (deps.outbox.readBatches) return takeWire(maxBytes);
    const first = next();
    if (!first) return undefined;
    const kind = first.kind;
    const parts: string[] = [];
    let bytes = frameBytes;
    let lastSeq = first.seq;
    for (let r = first as StoredRecord | undefined; r && r.kind === kind && parts.length < cfg.maxBatchRecords; r = next()) {
      const json = jsonOf(r);
      const size = Buffer.byteLength(json) + (parts.length ? 1 : 0);
      // A record larger than the limit on its own still goes, alone, rather than block the outbox.
      if (parts.length && bytes + size > maxBytes) break;
      parts.push(json);
      bytes += size;
      lastSeq = r.seq;
      bufAt++;
    }
    return { kind, payload: head + parts.join(',') + BATCH_TAIL, flight: { firstSeq: first.seq, lastSeq, count: parts.length, acked: false, kind } };
  };

  const publishFlight = (l: Link, myGen: number, flight: Flight, payload: string) => {
    l.publish(cfg.up(flight.kind), payload, (err) => onAck(myGen, flight, err));
  };

  /**
   * The broker refused a batch (PUBACK reason code): resend it record by record in its place in
   * the window, so the ones it takes go through; a record refused maxRefusals times alone is
   * set aside in the outbox (dead letter) and the rest flows.
   */
  const onRefused = (myGen: number, flight: Flight, err: Error, code: number) => {
    refused++;
    const reason = `refused by the broker: ${err.message} (reason code 0x${code.toString(16)})`;
    const at = window.indexOf(flight);
    if (at < 0 || !link) return;
    let recs: StoredRecord[];
    try {
      recs = deps.outbox.peek(flight.count, flight.firstSeq - 1).filter((r) => r.seq <= flight.lastSeq);
    } catch (e) {
      deps.log.warn({ err: e }, 'outbox peek failed');
      return link.onError(err);
    }
    if (recs.length === 0) return settleFlight(flight); // acked or set aside meanwhile: nothing to resend
    if (recs.length === 1) {
      const seq = recs[0].seq;
      const n = (refusals.get(seq) ?? 0) + 1;
      refusals.set(seq, n);
      if (n >= maxRefusals) {
        refusals.delete(seq);
        try {
          deps.outbox.setAside(seq, seq, reason);
          setAside++;
        } catch (e) {
          // Not set aside (disk full?): it stays and is tried again after a reconnect.
          deps.log.error({ err: e, seq }, 'could not set a refused record aside');
          return link.onError(err);
        }
        deps.log.error({ seq, refusals: n, reason }, 'record refused by the broker; set aside');
        return settleFlight(flight);
      }
      deps.log.warn({ seq, refusals: n, reason }, 'record refused by the broker; retrying');
      return publishFlight(link, myGen, flight, head + jsonOf(recs[0]) + BATCH_TAIL);
    }
    deps.log.warn({ firstSeq: flight.firstSeq, lastSeq: flight.lastSeq, reason }, 'batch refused by the broker; resending it record by record');
    const solo = recs.map((r): Flight => ({ firstSeq: r.seq, lastSeq: r.seq, count: 1, acked: false, kind: r.kind }));
    // The records of the batch the outbox no longer holds (acked, set aside) need no resend.
    solo[solo.length - 1].lastSeq = flight.lastSeq;
    window.splice(at, 1, ...solo);
    for (let i = 0; i < solo.length; i++) publishFlight(link, myGen, solo[i], head + jsonOf(recs[i]) + BATCH_TAIL);
  };

  const onAck = (myGen: number, flight: Flight, err?: Error) => {
    if (myGen !== gen) return; // a PUBACK (or flush error) from a connection we already forgot
    if (err) {
      const code = refusalCode(err);
      if (code !== undefined) return onRefused(myGen, flight, err, code);
      link?.onError(err);
      return;
    }
    if (refusals.size > 0) refusals.delete(flight.firstSeq);
    acked += flight.count;
    settleFlight(flight);
  };

  const settleFlight = (flight: Flight) => {
    flight.acked = true;
    lastAckTs = Date.now();
    let upto: number | undefined;
    while (window.length && window[0].acked) upto = window.shift()!.lastSeq;
    if (upto !== undefined) {
      ackUpto = upto;
      ackTimer ??= setTimeout(flushAck, ACK_COALESCE_MS);
    }
    pump();
  };

  function pump(): void {
    if (!link || pumping) return;
    pumping = true; // publish callbacks can run synchronously inside publish(); no re-entry
    try {
      const myGen = gen;
      let built = 0;
      while (link && myGen === gen && window.length < link.window()) {
        if (built++ >= BATCHES_PER_TURN) {
          again ??= setImmediate(() => { again = undefined; pump(); });
          break;
        }
        const batch = takeBatch(link.maxPayloadBytes);
        if (!batch) break;
        window.push(batch.flight);
        sent += batch.flight.count;
        publishFlight(link, myGen, batch.flight, batch.payload);
      }
    } finally {
      pumping = false;
    }
  }

  return {
    begin(l) {
      gen++;
      link = l;
      window = [];
      buf = [];
      bufAt = 0;
      wire = [];
      wireAt = 0;
      reading = false;
      cursor = undefined;
      pump();
    },
    end() {
      flushAck(); // what was PUBACKed before the connection went is acked now
      gen++;
      link = undefined;
      clearImmediate(again);
      again = undefined;
      window = [];
      buf = [];
      bufAt = 0;
      wire = [];
      wireAt = 0;
      reading = false;
      cursor = undefined;
    },
    pump,
    flushAck,
    inflight: () => window.length,
    counters: () => ({ sent, acked, lastAckTs, refused, setAside }),
  };
}

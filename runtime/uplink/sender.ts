// Moves records from the outbox to the broker: batches, a bounded window of unacked publishes,
// and acks in the outbox only for the contiguous PUBACKed prefix (a record leaves the outbox
// only after the broker has it). Knows nothing about connecting; index.ts drives it.
import type { Log, Outbox, RecordKind, StoredRecord } from '../types.ts';
import { batchHead, BATCH_TAIL } from './protocol.ts';

/**
 * PUBACKed prefixes are handed to outbox.ack() at most this often: an ack is a durable delete
 * (a commit with fsync), so one per PUBACK would cap the drain rate. Delaying it only risks
 * duplicates after a crash, which at-least-once allows.
 */
const ACK_COALESCE_MS = 25;

export interface SenderConfig {
  gateway: string;
  maxBatchRecords: number;
  maxPayloadBytes: number;
  up(kind: RecordKind): string;
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
  /** A publish was refused (PUBACK reason code) or failed: the caller drops the connection. */
  onError(err: Error): void;
}

interface Flight {
  firstSeq: number;
  lastSeq: number;
  count: number;
  acked: boolean;
}

export interface Sender {
  begin(link: Link): void;
  /** Connection gone: forget every in-flight publish, resend from the outbox ack cursor next time. */
  end(): void;
  pump(): void;
  /** Hand the PUBACKed prefix to the outbox now (stop, disconnect). */
  flushAck(): void;
  inflight(): number;
  counters(): { sent: number; acked: number; lastAckTs?: number };
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
  /** Seq of the last record read from the outbox in this connection; undefined = from the ack cursor. */
  let cursor: number | undefined;
  let pumping = false;
  let sent = 0;
  let acked = 0;
  let lastAckTs: number | undefined;
  let rewriteErrors = 0;
  let ackUpto: number | undefined;
  let ackTimer: NodeJS.Timeout | undefined;

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

  /** A contiguous run of one kind, bounded by record count and payload bytes. */
  const takeBatch = (maxBytes: number): { kind: RecordKind; payload: string; flight: Flight } | undefined => {
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
    return { kind, payload: head + parts.join(',') + BATCH_TAIL, flight: { firstSeq: first.seq, lastSeq, count: parts.length, acked: false } };
  };

  const onAck = (myGen: number, flight: Flight, err?: Error) => {
    if (myGen !== gen) return; // a PUBACK (or flush error) from a connection we already forgot
    if (err) {
      link?.onError(err);
      return;
    }
    flight.acked = true;
    acked += flight.count;
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
      while (link && myGen === gen && window.length < link.window()) {
        const batch = takeBatch(link.maxPayloadBytes);
        if (!batch) break;
        window.push(batch.flight);
        sent += batch.flight.count;
        const flight = batch.flight;
        link.publish(cfg.up(batch.kind), batch.payload, (err) => onAck(myGen, flight, err));
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
      cursor = undefined;
      pump();
    },
    end() {
      flushAck(); // what was PUBACKed before the connection went is acked now
      gen++;
      link = undefined;
      window = [];
      buf = [];
      bufAt = 0;
      cursor = undefined;
    },
    pump,
    flushAck,
    inflight: () => window.length,
    counters: () => ({ sent, acked, lastAckTs }),
  };
}

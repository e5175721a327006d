// Core vocabulary of the data path (see ARCHITECTURE.md). Every module speaks these types.
import type { Logger } from 'pino';
import type { StateDir } from './state.ts';

export type Quality = 'good' | 'uncertain' | 'bad';
export type Severity = 'info' | 'warning' | 'critical';

/** One value of one point at one time. `ts` is wall-clock ms since epoch. */
export interface Reading {
  device: string;
  point: string;
  value: number | boolean | string;
  unit?: string;
  quality: Quality;
  ts: number;
  /** Set when `ts` was stamped before the gateway clock was trusted (no NTP sync yet). */
  clock?: ClockFlag;
}

/** Something that happened. `id` is a sortable unique id (see ids.ts). */
export interface WaysideEvent {
  id: string;
  type: string;
  device?: string;
  point?: string;
  severity: Severity;
  /** 'raise' | 'clear' for stateful alarms; absent for one-shot events. */
  state?: 'raise' | 'clear';
  ts: number;
  data: Record<string, unknown>;
  clock?: ClockFlag;
}

/** Aggregate of one point's readings over one tumbling window. */
export interface Summary {
  device: string;
  point: string;
  unit?: string;
  /** Window start and end, wall-clock ms. */
  start: number;
  end: number;
  count: number;
  min: number;
  max: number;
  mean: number;
  last: number;
  /** Count of readings with quality other than 'good' in the window. */
  bad: number;
  /** True when the window was cut short (agent stopping). */
  partial?: boolean;
  clock?: ClockFlag;
}

/**
 * Clock trust stamp. `untrusted` = stamped before the clock was trusted;
 * `corrected` = stamped untrusted and later shifted by a known offset.
 */
export interface ClockFlag {
  state: 'untrusted' | 'corrected';
  /** Offset in ms that was added (corrected) or is unknown (untrusted). */
  offsetMs?: number;
  /** Linux boot id the stamp belongs to; a correction only applies within one boot. */
  boot?: string;
}

export type RecordKind = 'summary' | 'reading' | 'event';

/** What goes into the outbox: one record, with its own unique sortable id for platform dedupe. */
export interface OutRecord {
  id: string;
  kind: RecordKind;
  /** Wall-clock ms of the thing recorded (summary end, reading ts, event ts). */
  ts: number;
  body: Summary | Reading | WaysideEvent;
}

/** A record as read back from the outbox. `json` is the serialized OutRecord. */
export interface StoredRecord {
  /** Monotonic storage sequence; ack(upto) deletes every record with seq <= upto. */
  seq: number;
  id: string;
  kind: RecordKind;
  ts: number;
  json: string;
}

/** Consecutive stored records of one kind, their JSON already joined with "," (Outbox.batches). */
export interface StoredBatch {
  kind: RecordKind;
  firstSeq: number;
  lastSeq: number;
  count: number;
  json: string;
}

export interface OutboxStats {
  /** Records stored and not yet acknowledged (disk + memory). */
  depth: number;
  bytes: number;
  /** Age in ms of the oldest unacknowledged record, 0 when empty. */
  oldestAgeMs: number;
  /** Records dropped by the full policy or the age cap, since the store was created. */
  dropped: number;
  droppedByReason: Record<string, number>;
  /** Records held in memory because the disk refused writes. */
  memoryHeld: number;
  diskFull: boolean;
  fileBytes: number;
  appended: number;
  acked: number;
  /** Free bytes on the filesystem of the store (statfs, for unprivileged users); undefined without a disk. */
  fsFreeBytes?: number;
  /** The reserve file kept beside the store to regain room on a full disk (docs/outbox.md). */
  reserve: 'held' | 'released' | 'none';
  /** Records set aside (dead-letter table) because the platform refused them; kept, never sent again. */
  setAside: number;
}

export interface Outbox {
  /** Resolves when every record is durable (survives kill -9 and power loss). */
  append(records: OutRecord[]): Promise<void>;
  /** Up to n records in storage order with seq > afterSeq (default: after the acked cursor). */
  peek(n: number, afterSeq?: number): StoredRecord[];
  /**
   * Acknowledge every record with seq <= uptoSeq: peek never returns them again, even when the
   * disk is full (the delete itself may happen later; after a crash a late delete means duplicates).
   */
  ack(uptoSeq: number): void;
  /**
   * Move the records with fromSeq <= seq <= toSeq out of the send queue into the dead-letter
   * table (kept, counted, never sent again): the platform refused them. `reason` is stored with them.
   */
  setAside(fromSeq: number, toSeq: number, reason: string): void;
  /**
   * Optional fast path for the uplink, off the main thread: like peek (records after afterSeq
   * and the acked cursor), cut into batches of one kind (at most maxRecords records and maxBytes
   * of joined JSON each; a larger record comes alone), up to maxBatches, each with its records'
   * stored JSON joined. Stores without it are read with peek.
   */
  readBatches?(afterSeq: number, maxRecords: number, maxBytes: number, maxBatches: number): Promise<StoredBatch[]>;
  stats(): OutboxStats;
  /** Flush pending appends and close the database. */
  close(): Promise<void>;
}

export interface Clock {
  /** Wall-clock ms since epoch (may be wrong before NTP sync). */
  now(): number;
  /** Monotonic ms (never jumps); use for windows, timeouts, intervals. */
  mono(): number;
  /** True once the wall clock is believed correct. */
  trusted(): boolean;
  /** Flag to attach to something stamped now, or undefined when the clock is trusted. */
  flag(): ClockFlag | undefined;
}

export interface BusMap {
  reading: Reading;
  event: WaysideEvent;
  summary: Summary;
}

export interface Bus {
  on<K extends keyof BusMap>(type: K, owner: string, fn: (msg: BusMap[K]) => void): void;
  emit<K extends keyof BusMap>(type: K, msg: BusMap[K]): void;
  /** Remove every listener registered by this owner. */
  off(owner: string): void;
}

export type Log = Logger;

/** The one context object passed to drivers and services. */
export interface Ctx {
  bus: Bus;
  log: Log;
  clock: Clock;
  /** A fresh sortable record id stamped from `clock` (never from a payload's timestamp). */
  newId(): string;
  /**
   * Drivers only: the device's own state directory (`<stateDir>/devices/<device id>`, made on
   * first write) for what must survive a restart (LoRaWAN frame counters, evidence). Absent in
   * bare harnesses that give none.
   */
  state?: StateDir;
}

export type DeviceState = 'starting' | 'online' | 'degraded' | 'offline' | 'stopped';

export interface DeviceHealth {
  device: string;
  driver: string;
  state: DeviceState;
  lastReadingTs?: number;
  errors: number;
  readings: number;
  lastError?: string;
  /** Errors by kind (timeout, crc, exception, io, protocol, config), for field drivers. */
  errorsByKind?: Record<string, number>;
  /** Active data-quality faults as "point:fault" (out_of_range, flatline, stale). */
  quality?: string[];
}

export interface Driver {
  start(): Promise<void>;
  stop(): Promise<void>;
  health(): DeviceHealth;
  /**
   * Writes a point. A driver whose writes complete later (a LoRaWAN downlink waits for the
   * sensor's next uplink) resolves with a receipt (e.g. `{ status: 'queued', id }`) that the
   * `write` command returns to the platform as `result`.
   */
  write?(point: string, value: unknown): Promise<void | Record<string, unknown>>;
  /**
   * Reads every point once, now, outside the poll schedule (the status page's "read now"). The
   * readings go on the bus as usual; resolves when the read is done, rejects with the reason the
   * device did not answer. Absent for drivers that cannot be asked (a sensor that pushes).
   */
  readNow?(): Promise<void>;
  /** A camera's last decoded frame with what the models found on it; undefined before the first. */
  snapshot?(): Promise<DeviceSnapshot | undefined>;
}

/** A camera's last frame as the status page shows it (the detections in frame pixels). */
export interface DeviceSnapshot {
  jpeg: Buffer;
  width: number;
  height: number;
  /** When the frame was decoded (agent clock, ms). */
  ts: number;
  detections: { label: string; score: number; box: [x: number, y: number, w: number, h: number] }[];
}

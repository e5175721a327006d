// What a sensor must keep across restarts (ctx.state, `<stateDir>/devices/<id>/lora.json`):
// frame counters up and down, the OTAA session and the DevNonces already used. Writes are
// atomic and fsync'd (runtime/state.ts), so they are debounced: at most one write per
// FLUSH_MS while uplinks arrive (5,000 uplinks/s must not mean 5,000 fsyncs), at once for
// joins (a DevNonce must never be forgotten), and on stop.
//
// After an unclean stop the file can lag by up to FLUSH_MS. Uplink: a frame of that last
// second could be accepted once more if replayed. Downlink: a FCntDown already used would be
// used again and the device would drop that downlink, so on boot FCntDown skips ahead by
// FCNT_DOWN_MARGIN (far more than the downlinks one sensor can get in FLUSH_MS: one per uplink).
import type { StateDir } from '../../runtime/state.ts';
import type { Log } from '../../runtime/types.ts';

export const FLUSH_MS = 500;
export const FCNT_DOWN_MARGIN = 32;
const FILE = 'lora.json';

export interface Persisted {
  v: 1;
  devEui: string;
  /** Which keys the counters belong to: the ABP DevAddr+key fingerprint, or "otaa". */
  identity: string;
  /** Last accepted uplink counter (full 32 bits), absent before the first. */
  fcntUp?: number;
  /** Next downlink counter to use. */
  fcntDown: number;
  session?: { devAddr: number; nwkSKey: string; appSKey: string; joinedAt: number; appNonce: string };
  devNonces: number[];
}

export interface Store {
  readonly data: Persisted;
  /** Something changed: written within FLUSH_MS. */
  dirty(): void;
  /** Written now (joins). */
  flush(): void;
  close(): void;
  writes(): number;
  lastError(): string | undefined;
}

/**
 * Loads the device's document (a fresh one when absent, unreadable, or for other keys) and
 * applies the FCntDown skip. `state` undefined (bare harnesses): kept in memory only.
 */
export function openStore(state: StateDir | undefined, devEui: string, identity: string, log: Log): Store {
  let loaded: Persisted | undefined;
  let lastError: string | undefined;
  try {
    const doc = state?.read<Persisted>(FILE);
    if (doc && doc.v === 1 && doc.devEui === devEui && doc.identity === identity) loaded = doc;
    else if (doc) log.warn({ file: FILE }, 'lora state belongs to other keys or another DevEUI: counters start over');
  } catch (err) {
    lastError = (err as Error).message;
    log.error({ err: lastError }, 'lora state unreadable: counters and sessions start over');
  }
  const data: Persisted = loaded
    ? { ...loaded, devNonces: Array.isArray(loaded.devNonces) ? loaded.devNonces : [], fcntDown: (Number(loaded.fcntDown) || 0) + FCNT_DOWN_MARGIN }
    : { v: 1, devEui, identity, fcntDown: 0, devNonces: [] };
  let timer: NodeJS.Timeout | undefined;
  let writes = 0;
  let closed = false;

  const write = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (!state) return;
    try {
      state.write(FILE, data);
      writes++;
      lastError = undefined;
    } catch (err) {
      // A full or read-only disk costs durability, never the sensor's data.
      lastError = `state write failed: ${(err as Error).message}`;
      log.error({ err: lastError }, 'lora state not saved');
    }
  };
  if (loaded) write(); // the skipped-ahead FCntDown is on disk before any downlink uses it

  return {
    data,
    dirty() {
      if (closed || timer || !state) return;
      timer = setTimeout(write, FLUSH_MS);
      timer.unref?.();
    },
    flush: write,
    close() {
      if (closed) return;
      write();
      closed = true;
    },
    writes: () => writes,
    lastError: () => lastError,
  };
}

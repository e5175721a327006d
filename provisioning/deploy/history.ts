// Versions of one deploy target (flows, config, one model): the stored contents (the last N,
// plus the active and the last good one whatever their age), which one is active, which one is
// the last good, and the history of outcomes. One directory per target under the deploy
// service's state dir; every document is written atomically and fsync'd (runtime/state.ts).
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { StateDir } from '../../runtime/state.ts';

export type DeployKind = 'flows' | 'config' | 'model';
export type Outcome = 'confirmed' | 'rolled_back' | 'failed' | 'interrupted' | 'manual_rollback';

export interface HistoryEntry {
  version: number;
  outcome: Outcome;
  /** Wall ms when the outcome was decided. */
  at: number;
  previous?: number;
  reason?: string;
  durationMs?: number;
}

export interface TargetState {
  /** The version running now; undefined: what the gateway had before any deploy (its files). */
  active?: number;
  /** The version to go back to: the last one confirmed (or the baseline, 0, kept at the first deploy). */
  lastGood?: number;
  /** Versions whose content is stored, ascending. */
  stored: number[];
  /** Newest last, at most HISTORY_MAX. */
  history: HistoryEntry[];
}

export interface VersionStore {
  readonly key: string;
  state(): TargetState;
  /** Stores the content of a version (atomic). */
  put(version: number, content: unknown): void;
  get<T>(version: number): T | undefined;
  /** Sets the active version; `good` also makes it the last good one. */
  setActive(version: number | undefined, good: boolean): void;
  record(entry: HistoryEntry): void;
  /** Deletes stored contents beyond the newest `keep` (never the active or the last good). */
  prune(keep: number): number[];
}

const HISTORY_MAX = 50;
const STATE = 'state.json';
const file = (v: number) => `v${v}.json`;

export function openVersions(dir: StateDir, key: string): VersionStore {
  const load = (): TargetState => ({ stored: [], history: [], ...(dir.read<TargetState>(STATE) ?? {}) });
  let st = load();
  const save = () => dir.write(STATE, st);
  return {
    key,
    state: () => structuredClone(st),
    put(version, content) {
      dir.write(file(version), { version, content });
      if (!st.stored.includes(version)) {
        st.stored = [...st.stored, version].sort((a, b) => a - b);
        save();
      }
    },
    get<T>(version: number) {
      return dir.read<{ content: T }>(file(version))?.content;
    },
    setActive(version, good) {
      st.active = version;
      if (good) st.lastGood = version;
      save();
    },
    record(entry) {
      st.history = [...st.history, entry].slice(-HISTORY_MAX);
      save();
    },
    prune(keep) {
      const newest = st.stored.slice(-Math.max(1, keep));
      const drop = st.stored.filter((v) => !newest.includes(v) && v !== st.active && v !== st.lastGood);
      if (!drop.length) return [];
      st.stored = st.stored.filter((v) => !drop.includes(v));
      save(); // the list first: a crash between leaves an orphan file, never a listed missing one
      for (const v of drop) rmSync(join(dir.path, file(v)), { force: true });
      return drop;
    },
  };
}

/** Keys of the targets with a directory under `root` (`flows`, `config`, `model-<name>`). */
export function targetDirs(root: string): string[] {
  try {
    return readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return [];
  }
}

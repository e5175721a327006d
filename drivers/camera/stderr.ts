// What ffmpeg's stderr says went wrong with a stream, as one reason the platform can act on
// (auth: fix the credentials; not_found: fix the path; unreachable: network or camera down;
// codec: the stream is not something ffmpeg can decode). Only a bounded tail of stderr is ever
// kept: a camera that logs a warning per frame for a month costs no memory.

/** Why a stream ended. `stalled`: no frame for the stall timeout; `ended`: the source closed cleanly. */
export type StreamReason = 'auth' | 'not_found' | 'unreachable' | 'codec' | 'stalled' | 'ended' | 'spawn' | 'other';

export interface StreamFault {
  reason: StreamReason;
  /** The line that told (credentials and query strings removed), or what the driver saw. */
  message: string;
}

const RULES: [RegExp, StreamReason][] = [
  [/\b401\b|unauthori[sz]ed|authentication failed|\b403\b|forbidden/i, 'auth'],
  [/\b404\b|no such file or directory/i, 'not_found'],
  [/connection refused|connection timed out|timed? ?out|no route to host|network is unreachable|host is unreachable|name or service not known|temporary failure in name resolution|connection reset|broken pipe|end of file/i, 'unreachable'],
  [/invalid data found|codec not found|could not find codec|decoder .* not found|unsupported codec|no decoder|does not contain any stream|matches no streams|error while decoding/i, 'codec'],
];

/** The reason a stderr line names, or undefined when it names none of the known ones. */
export function classifyLine(line: string): StreamReason | undefined {
  for (const [re, reason] of RULES) if (re.test(line)) return reason;
  return undefined;
}

/** Removes user:password@ from URLs so a credential never reaches a log, an event or health. */
export function redact(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]{0,15}:\/\/)[^/@\s'"]*@/gi, '$1***@');
}

const MAX_LINE = 300;

/**
 * Collects ffmpeg's stderr: the last `keep` lines (each cut at 300 characters) and the first
 * line that named a known reason (the root cause: "401 Unauthorized" comes before the generic
 * "Error opening input"). Partial lines are held only up to 4 KiB.
 */
export function createStderrTail(keep = 8) {
  const lines: string[] = [];
  let partial = '';
  let first: StreamFault | undefined;
  const take = (raw: string) => {
    const line = redact(raw.trim().slice(0, 2 * MAX_LINE)).slice(0, MAX_LINE);
    if (!line) return;
    lines.push(line);
    if (lines.length > keep) lines.shift();
    const reason = classifyLine(line);
    if (reason && !first) first = { reason, message: line };
  };
  return {
    push(chunk: Buffer | string): void {
      const text = partial + chunk.toString();
      const parts = text.split(/\r?\n|\r/);
      partial = parts.pop() ?? '';
      if (partial.length > 4096) partial = partial.slice(0, 4096);
      for (const p of parts) take(p);
    },
    /** Lines seen so far (the partial one included). */
    lines(): string[] {
      return partial.trim() ? [...lines, redact(partial.trim().slice(0, 2 * MAX_LINE)).slice(0, MAX_LINE)] : [...lines];
    },
    /**
     * The fault this stderr explains: the first known reason, else `other` with the last line,
     * else `fallback` (what the caller saw: exit code, stall).
     */
    fault(fallback: StreamFault): StreamFault {
      if (partial) take(partial), (partial = '');
      if (first) return first;
      const last = lines.at(-1);
      return last && fallback.reason !== 'stalled' ? { reason: fallback.reason === 'ended' ? 'ended' : 'other', message: last } : fallback;
    },
  };
}

export type StderrTail = ReturnType<typeof createStderrTail>;

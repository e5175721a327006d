// Delimited text lines: a line splitter with a bounded buffer (shared with NMEA) and the three
// ways to pick fields out of a line: a regex with named groups, CSV columns, JSON paths.
// @serialport/parser-delimiter would split lines too, but its buffer grows without bound
// when the delimiter never comes (wrong baud rate), which a gateway cannot afford.
import { createStats, MAX_BUFFER, type DecodeResult, type Decoder, type DecodedValue } from './decoder.ts';
import { scaleValue, type TextField, type TextFormat } from './format.ts';

export interface LineSplitter {
  /** Complete lines in the new bytes (trimmed, empty ones skipped) and overflow notices. */
  push(chunk: Buffer): ({ line: string } | { overflow: number })[];
  reset(): void;
  /** Bytes discarded by overlong lines (and resets). */
  dropped(): number;
}

export function createLineSplitter(delimiter: string, maxLine: number): LineSplitter {
  const delim = Buffer.from(delimiter);
  const limit = Math.min(maxLine, MAX_BUFFER);
  let buf: Buffer = Buffer.alloc(0);
  let discarding = false; // inside an overlong line: drop up to its end
  let dropped = 0;
  return {
    push(chunk) {
      const out: ({ line: string } | { overflow: number })[] = [];
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      let pos = 0;
      for (;;) {
        const end = buf.indexOf(delim, pos);
        if (end < 0) break;
        if (discarding) {
          dropped += end + delim.length - pos;
          discarding = false;
        } else if (end - pos > limit) {
          dropped += end + delim.length - pos;
          out.push({ overflow: end - pos });
        } else {
          const line = buf.toString('utf8', pos, end).trim();
          if (line) out.push({ line });
        }
        pos = end + delim.length;
      }
      // Keep a partial delimiter at the end: the rest of it may come in the next chunk.
      if (buf.length - pos > limit + delim.length - 1) {
        const keep = delim.length - 1;
        const n = buf.length - pos - keep;
        dropped += n;
        if (!discarding) out.push({ overflow: n });
        discarding = true;
        pos = buf.length - keep;
      }
      buf = Buffer.from(buf.subarray(pos));
      return out;
    },
    reset() {
      dropped += buf.length;
      buf = Buffer.alloc(0);
      discarding = false;
    },
    dropped: () => dropped,
  };
}

const clip = (s: string) => JSON.stringify(s.length > 80 ? `${s.slice(0, 77)}...` : s);

const TRUE = new Set(['true', '1', 'on', 'yes']);
const FALSE = new Set(['false', '0', 'off', 'no']);

/** One field's raw text or JSON value as a reading value, or an error text. */
export function convertField(raw: unknown, fd: TextField, where: string): DecodedValue | string {
  const bad = (what: string) => `point "${fd.point}" (${where}): ${JSON.stringify(raw)} is not ${what}`;
  let value: number | string | boolean;
  if (fd.type === 'string') value = typeof raw === 'string' ? raw : JSON.stringify(raw);
  else if (fd.type === 'boolean') {
    const s = String(raw).trim().toLowerCase();
    if (!TRUE.has(s) && !FALSE.has(s)) return bad('a boolean');
    value = TRUE.has(s);
  } else {
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
    if (!Number.isFinite(n)) return bad('a number');
    value = scaleValue(n, fd);
  }
  return { point: fd.point, value, unit: fd.unit };
}

function jsonPath(obj: unknown, path: string): unknown {
  let cur = obj;
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** Line -> values, for the format's one mode. */
function lineParser(f: TextFormat): (line: string) => DecodeResult {
  const frame = (values: DecodedValue[], errors: string[]): DecodeResult => ({ kind: 'frame', values, errors });
  const collect = (pick: (fd: TextField) => { raw: unknown; where: string } | undefined, fields: TextField[]) => {
    const values: DecodedValue[] = [];
    const errors: string[] = [];
    for (const fd of fields) {
      const got = pick(fd);
      if (!got) continue;
      const v = got.raw === undefined ? `point "${fd.point}": ${got.where} is missing` : convertField(got.raw, fd, got.where);
      if (typeof v === 'string') errors.push(v);
      else values.push(v);
    }
    return frame(values, errors);
  };
  const protocol = (message: string): DecodeResult => ({ kind: 'error', fault: 'protocol', message });

  if (f.regex !== undefined) {
    const re = new RegExp(f.regex);
    const fields: TextField[] =
      f.fields ?? Object.keys(new RegExp(`${f.regex}|`).exec('')?.groups ?? {}).map((g) => ({ point: g, type: 'number', scale: 1, offset: 0 }));
    return (line) => {
      const m = re.exec(line);
      if (!m) return protocol(`line does not match the regex: ${clip(line)}`);
      // A group that did not take part (an alternative of the regex) is simply absent.
      return collect((fd) => {
        const raw = m.groups?.[fd.group ?? fd.point];
        return raw === undefined ? undefined : { raw, where: `group "${fd.group ?? fd.point}"` };
      }, fields);
    };
  }
  if (f.csv !== undefined) {
    const sep = f.csv === true ? ',' : f.csv.separator;
    return (line) => {
      const cols = line.split(sep);
      return collect((fd) => ({ raw: cols[fd.column ?? 0]?.trim(), where: `column ${fd.column} of ${cols.length} in ${clip(line)}` }), f.fields ?? []);
    };
  }
  return (line) => {
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (err) {
      return protocol(`line is not JSON (${(err as Error).message}): ${clip(line)}`);
    }
    return collect((fd) => ({ raw: jsonPath(obj, fd.path ?? fd.point), where: `path "${fd.path ?? fd.point}"` }), f.fields ?? []);
  };
}

/** Shared by text and NMEA: lines in, one result per line. */
export function createLineDecoder(delimiter: string, maxLine: number, parse: (line: string) => DecodeResult): Decoder {
  const lines = createLineSplitter(delimiter, maxLine);
  const stats = createStats();
  return {
    push(chunk) {
      return lines.push(chunk).map((l) =>
        stats.count('overflow' in l ? { kind: 'error', fault: 'protocol', message: `line longer than ${maxLine} bytes dropped (${l.overflow} bytes)` } : parse(l.line)),
      );
    },
    reset: () => lines.reset(),
    stats: () => ({ frames: stats.frames, crcErrors: stats.crcErrors, protocolErrors: stats.protocolErrors, droppedBytes: lines.dropped() }),
  };
}

export function createTextDecoder(f: TextFormat): Decoder {
  const ignore = f.ignore !== undefined ? new RegExp(f.ignore) : undefined;
  const parse = lineParser(f);
  return createLineDecoder(f.delimiter, f.maxLine, (line) => (ignore?.test(line) ? { kind: 'frame', values: [], errors: [] } : parse(line)));
}

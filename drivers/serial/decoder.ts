// A decoder turns a serial byte stream into frames: each push() returns what the new bytes
// completed. Framing problems are results, never exceptions, so one bad sensor cannot take the
// agent down; the driver maps them onto the device monitor.
import type { Quality } from '../../runtime/types.ts';

export interface DecodedValue {
  point: string;
  value: number | string | boolean;
  unit?: string;
  quality?: Quality;
}

export type DecodeResult =
  /** A well-framed message (checksum good). `errors` names fields that could not be read. */
  | { kind: 'frame'; values: DecodedValue[]; errors: string[] }
  /** Bytes that did not make a valid frame: bad checksum ('crc') or garbage, truncation, bad length ('protocol'). */
  | { kind: 'error'; fault: 'crc' | 'protocol'; message: string };

export interface DecoderStats {
  frames: number;
  crcErrors: number;
  protocolErrors: number;
  /** Bytes thrown away while looking for the next frame (garbage, bad frames, overlong lines). */
  droppedBytes: number;
}

export interface Decoder {
  push(chunk: Buffer): DecodeResult[];
  /** Forget any partial frame (the port was reopened: what came before is unrelated). */
  reset(): void;
  stats(): DecoderStats;
}

export const MAX_BUFFER = 4096;

/** Counts results as they are produced; every decoder shares it. */
export function createStats(): DecoderStats & { count(r: DecodeResult): DecodeResult } {
  const s = {
    frames: 0,
    crcErrors: 0,
    protocolErrors: 0,
    droppedBytes: 0,
    count(r: DecodeResult): DecodeResult {
      if (r.kind === 'frame') s.frames++;
      else if (r.fault === 'crc') s.crcErrors++;
      else s.protocolErrors++;
      return r;
    },
  };
  return s;
}

export const hex = (b: Uint8Array, max = 48): string =>
  [...b.subarray(0, max)].map((x) => x.toString(16).padStart(2, '0')).join(' ') + (b.length > max ? ` ... (${b.length} bytes)` : '');

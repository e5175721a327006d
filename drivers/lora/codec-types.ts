// The contract between the LoRaWAN driver and its payload codecs (Cayenne LPP built in, the
// vendors' TTN/ChirpStack-style JavaScript codecs run isolated). Codecs are async: a JavaScript
// codec may run off the main thread so that a loop in it never blocks the agent.

/** What a TTN v3 / ChirpStack v4 `decodeUplink` returns. */
export interface DecodedUplink {
  data: Record<string, unknown>;
  warnings?: string[];
  errors?: string[];
}

export interface EncodedDownlink {
  bytes: number[];
  fPort?: number;
  warnings?: string[];
  errors?: string[];
}

export interface PayloadCodec {
  /** Never rejects for the codec's own faults (throw, loop, garbage): they come back in `errors`. */
  decodeUplink(input: { bytes: Uint8Array; fPort: number; recvTime?: Date; variables?: Record<string, string> }): Promise<DecodedUplink>;
  /** Absent when the codec cannot encode (Cayenne LPP decoding only, a codec without encodeDownlink). */
  encodeDownlink?(input: { data: Record<string, unknown>; variables?: Record<string, string> }): Promise<EncodedDownlink>;
  /** Ends the codec's isolate/worker. */
  close(): Promise<void>;
}

export type CodecSpec =
  | { kind: 'cayenne' }
  /** A JavaScript file defining decodeUplink (and optionally encodeDownlink), TTN v3 / ChirpStack v4 style. */
  | { kind: 'js'; file: string; timeoutMs: number };

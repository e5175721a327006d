// Payload codecs of the LoRaWAN driver: Cayenne LPP (built in) and vendors' JavaScript codec
// files (run isolated in the codec worker). See README.md in this folder.
import type { Log } from '../../../runtime/types.ts';
import type { CodecSpec, PayloadCodec } from '../codec-types.ts';
import { createCayenneCodec } from './cayenne.ts';
import { createCodecHost, type CodecHost } from './js-codec.ts';

export { createCayenneCodec, decodeLpp, encodeLpp, LppError, LPP_TYPES } from './cayenne.ts';
export { createCodecHost, type CodecHost, type CodecHostOptions, type CodecHostStats } from './js-codec.ts';

let shared: CodecHost | undefined;

/**
 * A codec for a device. JavaScript codecs run in `host`'s worker; without one they share a
 * lazily made host whose worker exists only while some codec is open (refcounted), so an agent
 * that passes none still has at most one codec worker. Rejects for a file that cannot be read,
 * has a syntax error (`file:line`) or defines no decoder; never for a codec's faults at decode time.
 */
export async function loadCodec(spec: CodecSpec, log?: Log, host?: CodecHost): Promise<PayloadCodec> {
  if (spec.kind === 'cayenne') return createCayenneCodec();
  return (host ?? (shared ??= createCodecHost({ log }))).load(spec.file, spec.timeoutMs);
}

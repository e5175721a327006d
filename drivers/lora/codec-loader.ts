// The codecs live in drivers/lora/codecs/ (Cayenne LPP, vendors' JavaScript codecs in a worker:
// see codec-types.ts for the contract). Imported on the first sensor that names a codec. Each
// loraFamily() (one per agent) gets its own loader and so its own codec worker host: two agents
// in one process never share a worker.
import type { Log } from '../../runtime/types.ts';
import type { CodecSpec, PayloadCodec } from './codec-types.ts';
import type { CodecHost } from './codecs/index.ts';

export type CodecLoader = (spec: CodecSpec, log?: Log) => PayloadCodec | Promise<PayloadCodec>;

export function createCodecLoader(): CodecLoader {
  let host: CodecHost | undefined;
  return async (spec, log) => {
    const m = await import('./codecs/index.ts');
    // The host's worker runs only while some codec is open (refcounted by the host itself).
    if (spec.kind === 'js') host ??= m.createCodecHost({ ...(log && { log }) });
    return m.loadCodec(spec, log, host);
  };
}

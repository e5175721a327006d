// The codecs live in drivers/lora/codecs/ (Cayenne LPP, sandboxed JavaScript: see
// codec-types.ts for the contract). Imported on the first sensor that names a codec, through a
// path the compiler does not follow, so this family builds on its own.
import type { Log } from '../../runtime/types.ts';
import type { CodecSpec, PayloadCodec } from './codec-types.ts';

const CODECS = './codecs/index.ts';

export async function defaultCodecLoader(spec: CodecSpec, log?: Log): Promise<PayloadCodec> {
  let mod: { loadCodec(spec: CodecSpec, log?: Log): PayloadCodec | Promise<PayloadCodec> };
  try {
    mod = (await import(CODECS)) as typeof mod;
  } catch (err) {
    throw new Error(`lora codecs unavailable (${CODECS}): ${(err as Error).message}`, { cause: err });
  }
  return mod.loadCodec(spec, log);
}

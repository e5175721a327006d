// lora-packet is CommonJS with a `default` property in its typings but not at run time (its
// module.exports is the API object itself): this takes whichever is there, typed once.
import lpModule from 'lora-packet';

type LoraPacketApi = (typeof lpModule)['default'];
const loraPacket: LoraPacketApi = ((lpModule as unknown as { default?: LoraPacketApi }).default ?? lpModule) as LoraPacketApi;

export default loraPacket;
export type LoraPacket = ReturnType<LoraPacketApi['fromWire']>;

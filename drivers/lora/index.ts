// `lora`: LoRaWAN sensors heard through a Semtech UDP packet forwarder (the gateway is their
// network server: ABP and OTAA, MIC, counters, dedup, class-A downlinks) or read from a local
// ChirpStack v4. One device per sensor. See docs/drivers/lora.md. The definition the agent
// registers is loraFamily() in definition.ts.
export { loraSchema, LORA_DESCRIPTION, type LoraConfig } from './schema.ts';
export { loraFamily, loraPoints, checkLoraDevices, type LoraFamilyOptions } from './definition.ts';
export type { LoraHealth, DownlinkStatus, CodecLoader } from './device.ts';
export type { DownlinkReceipt } from './downlink.ts';
export type { NetworkStats, ForwarderInfo } from './network.ts';

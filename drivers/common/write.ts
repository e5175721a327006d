// A write the device cannot take: the platform's command gets this message, naming the device
// and the point, instead of a generic "driver has no write".
export class WriteRefusedError extends Error {
  readonly device: string;
  readonly point: string;
  constructor(family: string, device: string, point: string, message: string) {
    super(`${family} device "${device}" point "${point}": ${message}`);
    this.name = 'WriteRefusedError';
    this.device = device;
    this.point = point;
  }
}

/** write() of a read-only family (meters, streaming sensors): always refused, with the reason. */
export function refuseWrite(family: string, device: string, points: readonly string[]) {
  return async (point: string, _value: unknown): Promise<never> => {
    throw new WriteRefusedError(family, device, point, points.includes(point)
      ? `not writable (${family} devices are read-only)`
      : `no such point (points: ${points.join(', ')})`);
  };
}

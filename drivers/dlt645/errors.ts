// Typed errors of the DL/T 645 driver. Callers branch on the class (and `kind`), operators
// read the message: it names the device, the meter address, the point and its DI.
import type { FaultKind } from '../common/device-monitor.ts';
import { describeErrorByte, formatDi } from './codec.ts';

/** Where an exchange happened, for messages. */
export interface ExchangeSite {
  device: string;
  address: string;
  port: string;
  /** Point being read, if any (absent for address discovery). */
  point?: string;
  di?: string;
}

export const siteText = (s: ExchangeSite): string =>
  `dlt645 device "${s.device}" (address ${s.address} on ${s.port})${s.point ? ` point "${s.point}"` : ''}${s.di ? ` DI ${formatDi(s.di)}` : ''}`;

/** An exchange that produced no usable reply: silence, a corrupt frame, a closed port. */
export class ExchangeError extends Error {
  readonly kind: Extract<FaultKind, 'timeout' | 'crc' | 'protocol' | 'io'>;
  readonly site: ExchangeSite;
  /** The request was cancelled because the device is stopping; not a device fault. */
  readonly cancelled: boolean;
  constructor(kind: ExchangeError['kind'], site: ExchangeSite, message: string, cancelled = false) {
    super(`${siteText(site)}: ${message}`);
    this.name = 'ExchangeError';
    this.kind = kind;
    this.site = site;
    this.cancelled = cancelled;
  }
}

/** The meter answered with an abnormal reply (control 0xD1): it is alive but refused the read. */
export class MeterErrorReply extends Error {
  readonly site: ExchangeSite;
  readonly errorByte: number;
  readonly errors: string[];
  constructor(site: ExchangeSite, errorByte: number) {
    const errors = describeErrorByte(errorByte);
    super(`${siteText(site)}: meter replied error 0x${errorByte.toString(16).padStart(2, '0').toUpperCase()} (${errors.join(', ')})`);
    this.name = 'MeterErrorReply';
    this.site = site;
    this.errorByte = errorByte;
    this.errors = errors;
  }
}

/** A well-formed frame whose contents are wrong (DI echo, length, BCD). */
export class ReplyFormatError extends Error {
  readonly site: ExchangeSite;
  constructor(site: ExchangeSite, message: string) {
    super(`${siteText(site)}: ${message}`);
    this.name = 'ReplyFormatError';
    this.site = site;
  }
}

/** Two devices on one port disagree on how to use it (line settings, exclusive discovery). */
export class PortConflictError extends Error {
  readonly device: string;
  readonly port: string;
  constructor(device: string, port: string, message: string) {
    super(`dlt645 device "${device}" on ${port}: ${message}`);
    this.name = 'PortConflictError';
    this.device = device;
    this.port = port;
  }
}

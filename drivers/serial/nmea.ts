// NMEA 0183 GPS sentences. GGA gives the fix (lat, lon, alt, sats, fix quality, hdop), RMC
// the date and so the full UTC time (and lat/lon too, for receivers set to send RMC only).
// Every sentence's *hh checksum is checked; valid sentences of other types (GSV, GSA, VTG, ...)
// prove the receiver is alive and are otherwise ignored.
import { nmeaChecksum } from './checksum.ts';
import type { DecodeResult, Decoder, DecodedValue } from './decoder.ts';
import { createLineDecoder } from './text.ts';

export const NMEA_POINTS = {
  lat: { unit: '°', description: 'latitude, decimal degrees, north positive (GGA, RMC)' },
  lon: { unit: '°', description: 'longitude, decimal degrees, east positive (GGA, RMC)' },
  alt: { unit: 'm', description: 'altitude above mean sea level (GGA)' },
  sats: { unit: undefined, description: 'satellites used in the fix (GGA)' },
  fix: { unit: undefined, description: 'fix quality: 0 none, 1 GPS, 2 DGPS, 4 RTK fixed, 5 RTK float, 6 dead reckoning (GGA)' },
  hdop: { unit: undefined, description: 'horizontal dilution of precision (GGA)' },
  time: { unit: 'ms', description: 'GPS UTC time as ms since the Unix epoch (RMC); quality uncertain without a fix' },
} as const;
export type NmeaPoint = keyof typeof NMEA_POINTS;

const val = (point: NmeaPoint, value: number, quality?: 'uncertain'): DecodedValue =>
  quality ? { point, value, unit: NMEA_POINTS[point].unit, quality } : { point, value, unit: NMEA_POINTS[point].unit };

/** "4807.038","N" -> 48.1173; degrees are 2 digits for latitude, 3 for longitude. */
export function nmeaCoordinate(v: string, hemi: string, degDigits: 2 | 3): number | string {
  const re = degDigits === 2 ? /^(\d{2})(\d{2}(?:\.\d+)?)$/ : /^(\d{3})(\d{2}(?:\.\d+)?)$/;
  const m = re.exec(v);
  const pos = degDigits === 2 ? 'NS' : 'EW';
  if (!m || hemi.length !== 1 || !pos.includes(hemi)) return `bad ${degDigits === 2 ? 'latitude' : 'longitude'} ${JSON.stringify(`${v},${hemi}`)}`;
  const deg = Number(m[1]) + Number(m[2]) / 60;
  const signed = hemi === 'S' || hemi === 'W' ? -deg : deg;
  return Number(signed.toFixed(8));
}

/** "hhmmss.ss" + "ddmmyy" -> ms since epoch (UTC). */
export function nmeaTime(time: string, date: string): number | string {
  const t = /^(\d{2})(\d{2})(\d{2})(?:\.(\d{1,3}))?$/.exec(time);
  const d = /^(\d{2})(\d{2})(\d{2})$/.exec(date);
  if (!t || !d) return `bad time/date ${JSON.stringify(`${time},${date}`)}`;
  const yy = Number(d[3]);
  const ms = Math.round(Number(`0.${t[4] ?? '0'}`) * 1000);
  return Date.UTC(yy < 80 ? 2000 + yy : 1900 + yy, Number(d[2]) - 1, Number(d[1]), Number(t[1]), Number(t[2]), Number(t[3]), ms);
}

function position(f: string[], i: number, values: DecodedValue[], errors: string[]): void {
  const lat = nmeaCoordinate(f[i], f[i + 1], 2);
  const lon = nmeaCoordinate(f[i + 2], f[i + 3], 3);
  for (const [p, v] of [['lat', lat], ['lon', lon]] as const) {
    if (typeof v === 'string') errors.push(`${f[0]}: ${v}`);
    else values.push(val(p, v));
  }
}

function gga(f: string[]): DecodeResult {
  if (f.length < 10) return { kind: 'error', fault: 'protocol', message: `${f[0]}: ${f.length} fields, expected at least 10` };
  const values: DecodedValue[] = [];
  const errors: string[] = [];
  const int = (i: number, p: 'fix' | 'sats') => {
    if (!/^\d+$/.test(f[i])) return void errors.push(`${f[0]}: bad ${p} ${JSON.stringify(f[i])}`);
    values.push(val(p, Number(f[i])));
  };
  int(6, 'fix');
  if (f[7] !== '') int(7, 'sats');
  if (f[8] !== '' && Number.isFinite(Number(f[8]))) values.push(val('hdop', Number(f[8])));
  // Without a fix the position fields are empty (or stale): no position readings.
  if (f[6] !== '0' && f[2] !== '') {
    position(f, 2, values, errors);
    if (f[9] !== '') {
      const alt = Number(f[9]);
      if (Number.isFinite(alt)) values.push(val('alt', alt));
      else errors.push(`${f[0]}: bad altitude ${JSON.stringify(f[9])}`);
    }
  }
  return { kind: 'frame', values, errors };
}

function rmc(f: string[]): DecodeResult {
  if (f.length < 10) return { kind: 'error', fault: 'protocol', message: `${f[0]}: ${f.length} fields, expected at least 10` };
  const values: DecodedValue[] = [];
  const errors: string[] = [];
  const valid = f[2] === 'A';
  if (f[1] !== '' && f[9] !== '') {
    const t = nmeaTime(f[1], f[9]);
    if (typeof t === 'string') errors.push(`${f[0]}: ${t}`);
    else values.push(val('time', t, valid ? undefined : 'uncertain'));
  }
  if (valid && f[3] !== '') position(f, 3, values, errors);
  return { kind: 'frame', values, errors };
}

/** One sentence (a line) -> result. */
export function parseNmea(raw: string): DecodeResult {
  const line = raw.trim();
  const start = line.lastIndexOf('$'); // anything before it is the tail of a cut sentence
  if (start < 0) return { kind: 'error', fault: 'protocol', message: `not an NMEA sentence: ${JSON.stringify(line.slice(0, 80))}` };
  const s = line.slice(start);
  const star = s.lastIndexOf('*');
  if (star < 0 || !/^[0-9A-Fa-f]{2}$/.test(s.slice(star + 1))) {
    return { kind: 'error', fault: 'protocol', message: `NMEA sentence without a *hh checksum: ${JSON.stringify(s.slice(0, 80))}` };
  }
  const body = s.slice(1, star);
  const want = nmeaChecksum(body);
  const got = parseInt(s.slice(star + 1), 16);
  if (want !== got) {
    return { kind: 'error', fault: 'crc', message: `NMEA checksum mismatch: computed ${want.toString(16).padStart(2, '0').toUpperCase()}, sentence says ${s.slice(star + 1)}: ${JSON.stringify(s.slice(0, 80))}` };
  }
  const f = body.split(',');
  const type = f[0].startsWith('P') ? '' : f[0].slice(2); // talker GP, GN, GL, GA, BD...; P = proprietary
  if (type === 'GGA') return gga(f);
  if (type === 'RMC') return rmc(f);
  return { kind: 'frame', values: [], errors: [] };
}

export function createNmeaDecoder(): Decoder {
  // NMEA caps a sentence at 82 characters; leave room for chatty receivers.
  return createLineDecoder('\n', 256, parseNmea);
}

// Text lines (regex, CSV, JSON) and NMEA sentences on their own: exact values, named errors,
// bounded buffering.
import { describe, expect, it } from 'vitest';
import type { DecodeResult } from './decoder.ts';
import { textFormat } from './format.ts';
import { createNmeaDecoder, nmeaCoordinate, parseNmea } from './nmea.ts';
import { nmeaSentence } from '../../test/support/serial/frames.ts';
import { createLineSplitter, createTextDecoder } from './text.ts';

const text = (cfg: Record<string, unknown>) => createTextDecoder(textFormat.parse({ type: 'text', ...cfg }));
const push = (d: { push(b: Buffer): DecodeResult[] }, s: string) => d.push(Buffer.from(s));

describe('line splitter', () => {
  it('splits across chunks, trims, skips empty lines, handles a split delimiter', () => {
    const s = createLineSplitter('\r\n', 64);
    expect(s.push(Buffer.from('a=1\r'))).toEqual([]);
    expect(s.push(Buffer.from('\n\r\n b=2 \r\nc'))).toEqual([{ line: 'a=1' }, { line: 'b=2' }]);
    expect(s.push(Buffer.from('=3\r\n'))).toEqual([{ line: 'c=3' }]);
  });

  it('drops an overlong line once and resumes at the next delimiter; buffer stays bounded', () => {
    const s = createLineSplitter('\n', 16);
    const out = [...s.push(Buffer.alloc(40, 0x41)), ...s.push(Buffer.alloc(4000, 0x42)), ...s.push(Buffer.from('tail\nok\n'))];
    expect(out).toEqual([{ overflow: 40 }, { line: 'ok' }]);
    expect(s.dropped()).toBe(40 + 4000 + 5);
  });
});

describe('text formats', () => {
  it('regex with named groups, scale and offset (golden)', () => {
    const d = text({
      delimiter: '\r\n',
      regex: '^T=(?<t>-?\\d+(?:\\.\\d+)?) H=(?<h>\\d+) ST=(?<st>\\w+)$',
      fields: [
        { point: 'temperature', group: 't', unit: '°C' },
        { point: 'humidity', group: 'h', unit: '%', scale: 0.1 },
        { point: 'fahrenheit', group: 't', scale: 1.8, offset: 32, decimals: 1 },
        { point: 'status', group: 'st', type: 'string' },
      ],
    });
    expect(push(d, 'T=-4.5 H=655 ST=ok\r\nnoise\r\n')).toEqual([
      { kind: 'frame', errors: [], values: [
        { point: 'temperature', value: -4.5, unit: '°C' },
        { point: 'humidity', value: 65.5, unit: '%' },
        { point: 'fahrenheit', value: 23.9, unit: undefined },
        { point: 'status', value: 'ok', unit: undefined },
      ] },
      { kind: 'error', fault: 'protocol', message: 'line does not match the regex: "noise"' },
    ]);
  });

  it('regex without fields: every named group is a point', () => {
    const d = text({ regex: 'PM2\\.5=(?<pm2_5>\\d+) PM10=(?<pm10>\\d+)' });
    expect(push(d, 'PM2.5=12 PM10=30\n')).toEqual([{ kind: 'frame', errors: [], values: [{ point: 'pm2_5', value: 12, unit: undefined }, { point: 'pm10', value: 30, unit: undefined }] }]);
  });

  it('CSV columns; header lines ignored; a bad cell names point and column', () => {
    const d = text({
      csv: { separator: ';' }, ignore: '^time;',
      fields: [{ point: 'noise_db', column: 1, unit: 'dB(A)' }, { point: 'peak_db', column: 2, unit: 'dB(A)' }, { point: 'alarm', column: 3, type: 'boolean' }],
    });
    expect(push(d, 'time;laeq;lmax;alarm\n12:00;54.2;71.0;off\n12:01;nan;70;1\n12:02;50\n')).toEqual([
      { kind: 'frame', errors: [], values: [] },
      { kind: 'frame', errors: [], values: [{ point: 'noise_db', value: 54.2, unit: 'dB(A)' }, { point: 'peak_db', value: 71, unit: 'dB(A)' }, { point: 'alarm', value: false, unit: undefined }] },
      { kind: 'frame', errors: ['point "noise_db" (column 1 of 4 in "12:01;nan;70;1"): "nan" is not a number'], values: [{ point: 'peak_db', value: 70, unit: 'dB(A)' }, { point: 'alarm', value: true, unit: undefined }] },
      { kind: 'frame', errors: ['point "peak_db": column 2 of 2 in "12:02;50" is missing', 'point "alarm": column 3 of 2 in "12:02;50" is missing'], values: [{ point: 'noise_db', value: 50, unit: 'dB(A)' }] },
    ]);
  });

  it('JSON paths', () => {
    const d = text({ json: true, fields: [{ point: 'pm2_5', path: 'pm.2_5', unit: 'µg/m³' }, { point: 'co2', path: 'gas.0', unit: 'ppm' }] });
    expect(push(d, '{"pm":{"2_5":8.5},"gas":[412]}\n{bad\n')).toEqual([
      { kind: 'frame', errors: [], values: [{ point: 'pm2_5', value: 8.5, unit: 'µg/m³' }, { point: 'co2', value: 412, unit: 'ppm' }] },
      { kind: 'error', fault: 'protocol', message: expect.stringMatching(/^line is not JSON \(.*\): "\{bad"$/) },
    ]);
  });

  it('config errors name the field', () => {
    const issues = (cfg: Record<string, unknown>) => textFormat.safeParse({ type: 'text', ...cfg }).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues({ regex: 'a', csv: true })).toEqual([': a text format needs exactly one of regex, csv or json (got regex and csv)']);
    expect(issues({ regex: '(?<a>\\d+' })?.[0]).toMatch(/^regex: invalid regex: /);
    expect(issues({ regex: '(?<a>\\d+)', fields: [{ point: 'b' }] })).toEqual(['fields.0: regex has no group named "b" (groups: a)']);
    expect(issues({ csv: true, fields: [{ point: 'b' }] })).toEqual(['fields.0.column: csv field "b" needs a column']);
    expect(issues({ json: true, fields: [{ point: 'b', column: 2 }] })).toEqual(['fields.0.column: "column" does not apply to a json format']);
    expect(issues({ json: true })).toEqual(['fields: json needs a list of fields']);
  });
});

describe('NMEA 0183', () => {
  it('GGA and RMC reference sentences decode exactly (golden)', () => {
    const d = createNmeaDecoder();
    const rs = push(d, '$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A\r\n');
    expect(rs).toEqual([
      { kind: 'frame', errors: [], values: [
        { point: 'fix', value: 1, unit: undefined }, { point: 'sats', value: 8, unit: undefined }, { point: 'hdop', value: 0.9, unit: undefined },
        { point: 'lat', value: 48.1173, unit: '°' }, { point: 'lon', value: 11.51666667, unit: '°' }, { point: 'alt', value: 545.4, unit: 'm' },
      ] },
      { kind: 'frame', errors: [], values: [
        { point: 'time', value: Date.UTC(1994, 2, 23, 12, 35, 19), unit: 'ms' },
        { point: 'lat', value: 48.1173, unit: '°' }, { point: 'lon', value: 11.51666667, unit: '°' },
      ] },
    ]);
  });

  it('southern/western hemispheres, GN talker, no fix, void RMC, other sentences', () => {
    expect(nmeaCoordinate('3351.1234', 'S', 2)).toBe(-33.85205667);
    expect(nmeaCoordinate('15112.5', 'W', 3)).toBe(-151.20833333);
    expect(nmeaCoordinate('48x7', 'N', 2)).toBe('bad latitude "48x7,N"');
    expect(parseNmea(nmeaSentence('GNGGA,000001.00,,,,,0,00,99.99,,,,,,'))).toEqual({ kind: 'frame', errors: [], values: [{ point: 'fix', value: 0, unit: undefined }, { point: 'sats', value: 0, unit: undefined }, { point: 'hdop', value: 99.99, unit: undefined }] });
    expect(parseNmea(nmeaSentence('GNRMC,235959.50,V,,,,,,,311226,,,N'))).toEqual({ kind: 'frame', errors: [], values: [{ point: 'time', value: Date.UTC(2026, 11, 31, 23, 59, 59, 500), unit: 'ms', quality: 'uncertain' }] });
    expect(parseNmea(nmeaSentence('GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00'))).toEqual({ kind: 'frame', errors: [], values: [] });
  });

  it('checksum, framing and field errors are told apart', () => {
    expect(parseNmea('$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*48')).toEqual({ kind: 'error', fault: 'crc', message: expect.stringContaining('NMEA checksum mismatch: computed 47, sentence says 48') });
    expect(parseNmea('$GPGGA,123519,4807.038,N')).toMatchObject({ kind: 'error', fault: 'protocol', message: expect.stringContaining('without a *hh checksum') });
    expect(parseNmea('07.038,N,01131.000,E*47')).toMatchObject({ kind: 'error', fault: 'protocol', message: expect.stringContaining('not an NMEA sentence') });
    expect(parseNmea(nmeaSentence('GPGGA,1,2'))).toMatchObject({ kind: 'error', fault: 'protocol', message: 'GPGGA: 3 fields, expected at least 10' });
    expect(parseNmea(nmeaSentence('GPGGA,123519,48A7.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,'))).toMatchObject({ kind: 'frame', errors: ['GPGGA: bad latitude "48A7.038,N"'] });
    // The tail of a sentence cut by the port opening, then a whole one on the same line.
    expect(parseNmea(`031.000,E,1${nmeaSentence('GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,').trim()}`)).toMatchObject({ kind: 'frame', errors: [] });
  });
});

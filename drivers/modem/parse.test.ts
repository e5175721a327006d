// The 3GPP TS 27.007 tables and the reply-line parsers: boundaries of each table, "not known"
// codes giving no value, and the line shapes the modules send.
import { describe, expect, it } from 'vitest';
import {
  accessName, cesqRsrpDbm, cesqRsrqDb, csqRssiDbm, isRegReadReply, parseCesq, parseCops, parseCsq, parseQeng, parseReg,
  registrationName, ReplyParseError, splitParams,
} from './parse.ts';

describe('27.007 tables', () => {
  it('AT+CSQ rssi: 0 -> -113, 1 -> -111, 2..30 -> -109..-53, 31 -> -51, 99 -> unknown', () => {
    expect([0, 1, 2, 15, 30, 31].map(csqRssiDbm)).toEqual([-113, -111, -109, -83, -53, -51]);
    expect([99, 32, -1, 1.5].map(csqRssiDbm)).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('AT+CESQ rsrp 0..97 -> -141..-44 (lower bound of each 1 dB step), 255 -> unknown', () => {
    expect([0, 1, 45, 96, 97].map(cesqRsrpDbm)).toEqual([-141, -140, -96, -45, -44]);
    expect([255, 98].map(cesqRsrpDbm)).toEqual([undefined, undefined]);
  });

  it('AT+CESQ rsrq 0..34 -> -20..-3 in 0.5 dB steps, 255 -> unknown', () => {
    expect([0, 1, 20, 33, 34].map(cesqRsrqDb)).toEqual([-20, -19.5, -10, -3.5, -3]);
    expect([255, 35].map(cesqRsrqDb)).toEqual([undefined, undefined]);
  });

  it('access technologies and registration states', () => {
    expect([0, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14].map(accessName)).toEqual(['GSM', 'UMTS', 'GSM', 'UMTS', 'LTE', 'LTE-M', 'NB-IoT', 'LTE', 'NR5G', 'NR5G', 'NR5G', undefined]);
    expect([0, 1, 2, 3, 4, 5, 11].map(registrationName)).toEqual(['not_registered', 'home', 'searching', 'denied', 'unknown', 'roaming', undefined]);
  });
});

describe('reply lines', () => {
  it('splits parameters, keeping commas inside quotes', () => {
    expect(splitParams('+COPS: 0,0,"A, B",7')).toEqual([
      { text: '0', quoted: false }, { text: '0', quoted: false }, { text: 'A, B', quoted: true }, { text: '7', quoted: false },
    ]);
  });

  it('+CSQ and +CESQ, with unknown values giving nothing', () => {
    expect(parseCsq('+CSQ: 20,99')).toEqual({ rssiDbm: -73 });
    expect(parseCsq('+CSQ: 99,99')).toEqual({ rssiDbm: undefined });
    expect(parseCesq('+CESQ: 99,99,255,255,20,45')).toEqual({ rsrqDb: -10, rsrpDbm: -96 });
    expect(parseCesq('+CESQ: 63,0,255,255,255,255')).toEqual({ rsrqDb: undefined, rsrpDbm: undefined });
    // NR (Rel-15 form): ss_rsrq 80 -> -3.5 dB, ss_rsrp 60 -> -97 dBm, ss_sinr 70 -> 11.5 dB
    expect(parseCesq('+CESQ: 99,99,255,255,255,255,80,60,70')).toMatchObject({ ssRsrqDb: -3.5, ssRsrpDbm: -97, ssSinrDb: 11.5 });
    expect(() => parseCsq('+CSQ: x')).toThrow(ReplyParseError);
    expect(() => parseCesq('+CESQ: 1,2,3')).toThrow(/6 integer parameters: "\+CESQ: 1,2,3"/);
  });

  it('+COPS registered and not', () => {
    expect(parseCops('+COPS: 0,0,"CHINA MOBILE",7')).toEqual({ operator: 'CHINA MOBILE', access: 'LTE' });
    expect(parseCops('+COPS: 0,2,"26201",9')).toEqual({ operator: '26201', access: 'NB-IoT' });
    expect(parseCops('+COPS: 0')).toEqual({ operator: undefined, access: undefined });
  });

  it('+CEREG read replies vs their URC form', () => {
    expect(parseReg('+CEREG: 2,1,"1D3F","01A2D001",7')).toEqual({ registration: 'home', area: '1D3F', cellId: '01A2D001', access: 'LTE' });
    expect(parseReg('+CEREG: 2,5,"6f1a","0b3c2d4",9')).toEqual({ registration: 'roaming', area: '6F1A', cellId: '0B3C2D4', access: 'NB-IoT' });
    expect(parseReg('+CREG: 0,2')).toEqual({ registration: 'searching', area: undefined, cellId: undefined, access: undefined });
    expect(parseReg('+CEREG: 2,1,"FFFE","FFFFFFFF",7').cellId).toBeUndefined();
    expect(isRegReadReply('+CEREG: 2,1,"1D3F","01A2D001",7')).toBe(true);
    expect(isRegReadReply('+CEREG: 0,3')).toBe(true);
    expect(isRegReadReply('+CEREG: 1')).toBe(false);
    expect(isRegReadReply('+CEREG: 1,"1D3F","01A2D001",7')).toBe(false);
  });

  it('+QENG servingcell: LTE with SINR in fifths of a dB or in dB, NB-IoT, no service, "-"', () => {
    const lte = '+QENG: "servingcell","NOCONN","LTE","FDD",262,01,1A2D001,123,1300,3,5,5,1D3F,-95,-10,-65,150,34';
    expect(parseQeng([lte], 'fifths')).toEqual({ state: 'NOCONN', rat: 'LTE', access: 'LTE', cellId: '1A2D001', band: 3, rsrpDbm: -95, rsrqDb: -10, rssiDbm: -65, sinrDb: 10 });
    expect(parseQeng([lte], 'db').sinrDb).toBe(150);
    expect(parseQeng(['+QENG: "servingcell","CONNECT","CAT-NB","FDD",262,02,B3C2D4,321,6254,20,0,0,6F1A,-112,-13,-90,60,12'], 'fifths'))
      .toMatchObject({ access: 'NB-IoT', rsrpDbm: -112, sinrDb: -8 });
    expect(parseQeng(['+QENG: "servingcell","SEARCH"'], 'fifths')).toEqual({ state: 'SEARCH' });
    expect(parseQeng(['+QENG: "servingcell","NOCONN","LTE","FDD",262,01,1A2D001,123,1300,3,5,5,1D3F,-95,-10,-65,-,34'], 'fifths').sinrDb).toBeUndefined();
    expect(() => parseQeng(['+QENG: "neighbourcell intra","LTE"'], 'fifths')).toThrow(/no "servingcell" line/);
  });
});

// 3GPP TS 27.007 value mappings and the parsers of the information lines the modem driver
// reads (+CSQ, +CESQ, +COPS, +CREG/+CEREG/+C5GREG, Quectel's +QENG "servingcell"). Every
// parser takes one line as the modem sent it ("+CSQ: 20,99") and returns plain values;
// "not known" codes (99, 255, "-") come back as undefined, never as a made-up number.

/** A reply line that does not have the shape its command promises. */
export class ReplyParseError extends Error {
  readonly line: string;
  constructor(line: string, message: string) {
    super(`${message}: ${JSON.stringify(line.length > 120 ? `${line.slice(0, 117)}...` : line)}`);
    this.name = 'ReplyParseError';
    this.line = line;
  }
}

/**
 * The parameters after "+XXX: ", split on commas outside double quotes. Quoted ones keep
 * `quoted: true` (a quoted "1" is a string, an unquoted 1 a number, which tells a +CEREG
 * read reply from its unsolicited form).
 */
export function splitParams(line: string): { text: string; quoted: boolean }[] {
  const colon = line.indexOf(':');
  const body = colon < 0 ? '' : line.slice(colon + 1).trim();
  if (body === '') return [];
  const out: { text: string; quoted: boolean }[] = [];
  let cur = '';
  let quoted = false;
  let inQuote = false;
  for (const ch of body) {
    if (ch === '"') {
      inQuote = !inQuote;
      quoted = true;
    } else if (ch === ',' && !inQuote) {
      out.push({ text: quoted ? cur : cur.trim(), quoted });
      cur = '';
      quoted = false;
    } else cur += ch;
  }
  out.push({ text: quoted ? cur : cur.trim(), quoted });
  return out;
}

const intOf = (p: { text: string; quoted: boolean } | undefined): number | undefined =>
  p && !p.quoted && /^-?\d+$/.test(p.text) ? Number(p.text) : undefined;

// --- 27.007 mappings ------------------------------------------------------------------------

/** +CSQ <rssi> 0..31 -> dBm (0: <= -113, 1: -111, 2..30: -109..-53, 31: >= -51); 99 = unknown. */
export function csqRssiDbm(n: number): number | undefined {
  return Number.isInteger(n) && n >= 0 && n <= 31 ? -113 + 2 * n : undefined;
}

/** +CESQ <rsrp> 0..97 -> dBm, the lower bound of the 1 dB step (0: < -140 -> -141, 97: >= -44); 255 = unknown. */
export function cesqRsrpDbm(n: number): number | undefined {
  return Number.isInteger(n) && n >= 0 && n <= 97 ? -141 + n : undefined;
}

/** +CESQ <rsrq> 0..34 -> dB, the lower bound of the 0.5 dB step (0: < -19.5 -> -20, 34: >= -3); 255 = unknown. */
export function cesqRsrqDb(n: number): number | undefined {
  return Number.isInteger(n) && n >= 0 && n <= 34 ? -20 + n / 2 : undefined;
}

/** +CESQ <ss_rsrp> (NR, Rel-15) 0..127 -> dBm (0: < -156 -> -157, 127: >= -30); 255 = unknown. */
export function cesqSsRsrpDbm(n: number): number | undefined {
  return Number.isInteger(n) && n >= 0 && n <= 127 ? -157 + n : undefined;
}

/** +CESQ <ss_rsrq> (NR) 0..127 -> dB (0: < -43 -> -43.5, 127: >= 20); 255 = unknown. */
export function cesqSsRsrqDb(n: number): number | undefined {
  return Number.isInteger(n) && n >= 0 && n <= 127 ? -43.5 + n / 2 : undefined;
}

/** +CESQ <ss_sinr> (NR) 0..127 -> dB (0: < -23 -> -23.5, 127: >= 40); 255 = unknown. */
export function cesqSsSinrDb(n: number): number | undefined {
  return Number.isInteger(n) && n >= 0 && n <= 127 ? -23.5 + n / 2 : undefined;
}

export const ACCESS_NAMES = ['GSM', 'UMTS', 'LTE', 'LTE-M', 'NB-IoT', 'NR5G'] as const;
export type Access = (typeof ACCESS_NAMES)[number];

/**
 * <AcT> of +COPS / +CREG / +CEREG / +C5GREG -> access technology. 8 is "EC-GSM-IoT" in 27.007,
 * but the Cat-M modules this driver reads (Quectel BG9x, SIMCom SIM70x0) report LTE Cat-M1
 * with it, and EC-GSM-IoT never shipped widely: 8 is LTE-M here.
 */
export function accessName(act: number): Access | undefined {
  switch (act) {
    case 0: case 1: case 3: return 'GSM'; // GSM, GSM compact, GSM w/EGPRS
    case 2: case 4: case 5: case 6: return 'UMTS'; // UTRAN, w/HSDPA, w/HSUPA, w/both
    case 7: case 10: return 'LTE'; // E-UTRAN, E-UTRA connected to a 5GCN
    case 8: return 'LTE-M';
    case 9: return 'NB-IoT'; // E-UTRAN (NB-S1 mode)
    case 11: case 12: case 13: return 'NR5G'; // NR to 5GCN, NG-RAN, E-UTRA-NR dual connectivity
    default: return undefined;
  }
}

export const REGISTRATION_NAMES = ['not_registered', 'home', 'searching', 'denied', 'unknown', 'roaming'] as const;
export type Registration = (typeof REGISTRATION_NAMES)[number];

/** <stat> 0..5 -> name; other values (SMS-only 6..10, emergency 8...) read as their nearest meaning. */
export function registrationName(stat: number): Registration | undefined {
  if (stat >= 0 && stat <= 5) return REGISTRATION_NAMES[stat];
  if (stat === 6 || stat === 9) return 'home'; // registered for "SMS only", home / home, CSFB not preferred
  if (stat === 7 || stat === 10) return 'roaming'; // the same, roaming
  if (stat === 8) return 'not_registered'; // attached for emergency bearer services only
  return undefined;
}

export const isRegistered = (r: Registration): boolean => r === 'home' || r === 'roaming';

// --- reply lines ----------------------------------------------------------------------------

/** +CSQ: <rssi>,<ber> */
export function parseCsq(line: string): { rssiDbm?: number } {
  const p = splitParams(line);
  const rssi = intOf(p[0]);
  if (rssi === undefined || p.length < 2) throw new ReplyParseError(line, '+CSQ reply is not "<rssi>,<ber>"');
  return { rssiDbm: csqRssiDbm(rssi) };
}

export interface CesqValues {
  rsrpDbm?: number;
  rsrqDb?: number;
  /** NR values, from the 9-parameter form (Rel-15). */
  ssRsrpDbm?: number;
  ssRsrqDb?: number;
  ssSinrDb?: number;
}

/** +CESQ: <rxlev>,<ber>,<rscp>,<ecno>,<rsrq>,<rsrp>[,<ss_rsrq>,<ss_rsrp>,<ss_sinr>] */
export function parseCesq(line: string): CesqValues {
  const p = splitParams(line).map(intOf);
  if (p.length < 6 || p.slice(0, 6).some((v) => v === undefined)) throw new ReplyParseError(line, '+CESQ reply does not have 6 integer parameters');
  const out: CesqValues = { rsrqDb: cesqRsrqDb(p[4]!), rsrpDbm: cesqRsrpDbm(p[5]!) };
  if (p.length >= 9) {
    if (p[6] !== undefined) out.ssRsrqDb = cesqSsRsrqDb(p[6]);
    if (p[7] !== undefined) out.ssRsrpDbm = cesqSsRsrpDbm(p[7]);
    if (p[8] !== undefined) out.ssSinrDb = cesqSsSinrDb(p[8]);
  }
  return out;
}

/** +COPS: <mode>[,<format>,<oper>[,<AcT>]] (only <mode> while not registered). */
export function parseCops(line: string): { operator?: string; access?: Access } {
  const p = splitParams(line);
  if (intOf(p[0]) === undefined) throw new ReplyParseError(line, '+COPS reply does not start with <mode>');
  const operator = p[2]?.text.trim() || undefined;
  const act = intOf(p[3]);
  return { operator, access: act === undefined ? undefined : accessName(act) };
}

export interface RegValues {
  registration?: Registration;
  /** Location/tracking area code and cell id as the modem gives them (hex text, upper case). */
  area?: string;
  cellId?: string;
  access?: Access;
}

const hexId = (p: { text: string } | undefined): string | undefined => {
  const t = p?.text.trim().toUpperCase();
  return t && /^[0-9A-F]+$/.test(t) && !/^F+$/.test(t) ? t : undefined; // all-F = "not known"
};

/**
 * A +CREG / +CEREG / +C5GREG read reply: <n>,<stat>[,<lac|tac>,<ci>[,<AcT>...]]. Its URC form
 * (<stat>[,<lac>,<ci>...]) is not a read reply: see isRegReadReply.
 */
export function parseReg(line: string): RegValues {
  const p = splitParams(line);
  const stat = intOf(p[1]);
  if (intOf(p[0]) === undefined || stat === undefined) throw new ReplyParseError(line, 'registration reply is not "<n>,<stat>[,<area>,<ci>,<AcT>]"');
  const act = intOf(p[4]);
  return { registration: registrationName(stat), area: hexId(p[2]), cellId: hexId(p[3]), access: act === undefined ? undefined : accessName(act) };
}

/** True for a read reply (<n>,<stat>,...), false for the unsolicited <stat>[,"<lac>",...] form. */
export function isRegReadReply(line: string): boolean {
  const p = splitParams(line);
  return p.length >= 2 && intOf(p[0]) !== undefined && intOf(p[1]) !== undefined;
}

export interface QengValues {
  /** "NOCONN", "CONNECT", "SEARCH", "LIMSRV". */
  state: string;
  rat?: string;
  access?: Access;
  cellId?: string;
  band?: number;
  rsrpDbm?: number;
  rsrqDb?: number;
  sinrDb?: number;
  rssiDbm?: number;
}

/** How the +QENG <SINR> field is scaled: 1/5 dB from -20 (EC2x, EG2x, BG9x manuals), or dB (RM5xx and some firmware). */
export type SinrScale = 'fifths' | 'db';

const QENG_RATS: Record<string, Access> = { LTE: 'LTE', 'CAT-M': 'LTE-M', 'CAT-NB': 'NB-IoT' };

/**
 * Quectel AT+QENG="servingcell", single-line form; measurements from the LTE-family form (EC2x, EG2x, BG9x):
 * +QENG: "servingcell",<state>,"LTE"|"CAT-M"|"CAT-NB",<is_tdd>,<MCC>,<MNC>,<cellID>,<PCID>,
 *        <earfcn>,<freq_band_ind>,<UL_bw>,<DL_bw>,<TAC>,<RSRP>,<RSRQ>,<RSSI>,<SINR>,<srxlev>
 * With no service the line stops after <state> ("SEARCH", "LIMSRV"); GSM/WCDMA lines carry
 * no RSRP/RSRQ and give only the state, RAT and cell id here. "-" means not known.
 */
export function parseQeng(lines: string[], scale: SinrScale): QengValues {
  const main = lines.find((l) => /^\+QENG:\s*"servingcell"/i.test(l));
  if (!main) throw new ReplyParseError(lines[0] ?? '', '+QENG reply has no "servingcell" line');
  const p = splitParams(main);
  const state = p[1]?.text;
  if (!state) throw new ReplyParseError(main, '+QENG servingcell reply has no <state>');
  const out: QengValues = { state };
  const rat = p[2]?.text;
  if (!rat) return out;
  out.rat = rat;
  out.access = QENG_RATS[rat] ?? (rat === 'GSM' ? 'GSM' : rat === 'WCDMA' ? 'UMTS' : rat.startsWith('NR5G') ? 'NR5G' : undefined);
  out.cellId = hexId(p[6]); // <cellID> is the 7th parameter in the GSM, WCDMA, LTE and NR5G-SA forms alike
  if (!(rat in QENG_RATS)) return out; // measurements only from the LTE-family form
  const num = (i: number) => intOf(p[i]);
  out.band = num(9);
  out.rsrpDbm = num(13);
  out.rsrqDb = num(14);
  out.rssiDbm = num(15);
  const sinr = num(16);
  if (sinr !== undefined) out.sinrDb = scale === 'fifths' ? (sinr >= 0 && sinr <= 250 ? sinr / 5 - 20 : undefined) : sinr;
  return out;
}

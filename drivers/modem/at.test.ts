// The AT session's reply parsing, fed byte by byte the way a modem sends them: echo, URCs inside
// and between replies, lines cut across reads, error finals, late replies, silence. (The driver
// tests run the same session against the simulator on a real pty; here the bytes are placed
// exactly, which a pty cannot guarantee.)
import { describe, expect, it } from 'vitest';
import { silentLog } from '../../runtime/log.ts';
import { AtAbortedError, AtTimeoutError, commandPrefix, createAtSession, finalResult, urcName, type AtSession } from './at.ts';
import { isRegReadReply } from './parse.ts';

function rig() {
  const written: string[] = [];
  const urcs: string[] = [];
  const session: AtSession = createAtSession({ write: async (d) => void written.push(d), log: silentLog(), onUrc: (l) => urcs.push(l) });
  return { session, written, urcs };
}

describe('AT session', () => {
  it('sends one command at a time and reads the reply with echo on, split across reads', async () => {
    const { session, written } = rig();
    const a = session.send({ command: 'AT+CSQ', timeoutMs: 1000 });
    const b = session.send({ command: 'AT+COPS?', timeoutMs: 1000 });
    expect(written).toEqual(['AT+CSQ\r']); // the second waits for the first reply
    for (const piece of ['AT+C', 'SQ\r\r\n+CSQ: 2', '0,99\r', '\n\r\nO', 'K\r\n']) session.push(piece);
    expect(await a).toEqual({ command: 'AT+CSQ', ok: true, lines: ['+CSQ: 20,99'], final: 'OK' });
    expect(written).toEqual(['AT+CSQ\r', 'AT+COPS?\r']);
    session.push('\r\n+COPS: 0,0,"X",7\r\n\r\nOK\r\n');
    expect((await b).lines).toEqual(['+COPS: 0,0,"X",7']);
    expect(session.stats()).toMatchObject({ commands: 2, echoes: 1, urcs: 0 });
  });

  it('takes URCs in the middle of a reply and between replies as URCs, counted by name', async () => {
    const { session, urcs } = rig();
    session.push('\r\nRDY\r\n');
    const r = session.send({ command: 'AT+CEREG?', timeoutMs: 1000, accept: isRegReadReply });
    session.push('\r\n+CEREG: 1\r\n\r\n+CEREG: 2,1,"1D3F","01A2D001",7\r\n\r\nRING\r\n\r\n+QIND: "csq",20,99\r\n+CEREG: 5,"1D3F","01A2D001",7\r\n\r\nOK\r\n');
    expect((await r).lines).toEqual(['+CEREG: 2,1,"1D3F","01A2D001",7']);
    expect(urcs).toEqual(['RDY', '+CEREG: 1', 'RING', '+QIND: "csq",20,99', '+CEREG: 5,"1D3F","01A2D001",7']);
    expect(session.stats()).toMatchObject({ urcs: 5, urcsByName: { RDY: 1, '+CEREG': 2, RING: 1, '+QIND': 1 } });
  });

  it('reports ERROR and +CME ERROR finals, numeric and text', async () => {
    const { session } = rig();
    const r1 = session.send({ command: 'AT+QENG="servingcell"', timeoutMs: 1000 });
    session.push('\r\nERROR\r\n');
    expect(await r1).toMatchObject({ ok: false, final: 'ERROR', lines: [] });
    const r2 = session.send({ command: 'AT+COPS?', timeoutMs: 1000 });
    session.push('\r\n+CME ERROR: 10\r\n');
    expect(await r2).toMatchObject({ ok: false, cme: { type: '+CME ERROR', code: 10 } });
    const r3 = session.send({ command: 'AT+CESQ', timeoutMs: 1000 });
    session.push('\r\n+CME ERROR: operation not supported\r\n');
    expect((await r3).cme).toEqual({ type: '+CME ERROR', text: 'operation not supported' });
  });

  it('times out on silence, then drops the late reply as stray instead of answering the next command with it', async () => {
    const { session } = rig();
    await expect(session.send({ command: 'AT+CSQ', timeoutMs: 50 })).rejects.toThrow(AtTimeoutError);
    session.push('AT+CSQ\r\r\n+CSQ: 20,99\r\n\r\nOK\r\n'); // the late reply, echo and all
    const r = session.send({ command: 'AT+CESQ', timeoutMs: 1000 });
    session.push('\r\n+CESQ: 99,99,255,255,20,45\r\n\r\nOK\r\n');
    expect((await r).lines).toEqual(['+CESQ: 99,99,255,255,20,45']);
    expect(session.stats()).toMatchObject({ timeouts: 1, stray: 1, urcs: 1 }); // the late +CSQ line reads as a URC
  });

  it('aborts the command in flight and the queued ones', async () => {
    const { session } = rig();
    const a = session.send({ command: 'AT+CSQ', timeoutMs: 5000 });
    const b = session.send({ command: 'AT+CESQ', timeoutMs: 5000 });
    session.abort('device stopping', 'stopped');
    await expect(a).rejects.toMatchObject({ name: 'AtAbortedError', why: 'stopped' });
    await expect(b).rejects.toBeInstanceOf(AtAbortedError);
  });

  it('a failed write fails the command', async () => {
    const session = createAtSession({ write: async () => { throw new Error('EIO'); }, log: silentLog() });
    await expect(session.send({ command: 'AT', timeoutMs: 1000 })).rejects.toMatchObject({ why: 'write', message: 'AT: write failed: EIO' });
  });

  it('drops an overlong line and reads on', async () => {
    const { session } = rig();
    session.push('x'.repeat(5000));
    session.push('yyy\r\n');
    const r = session.send({ command: 'AT', timeoutMs: 1000 });
    session.push('\r\nOK\r\n');
    expect((await r).ok).toBe(true);
    expect(session.stats().dropped).toBeGreaterThanOrEqual(5000);
    expect(session.stats().urcs).toBe(0);
  });

  it('helpers: prefixes, finals, URC names', () => {
    expect(['AT+CSQ', 'AT+COPS?', 'AT+QENG="servingcell"', 'AT+CEREG=2', 'ATE0', 'at+cesq'].map(commandPrefix)).toEqual(['+CSQ', '+COPS', '+QENG', '+CEREG', undefined, '+CESQ']);
    expect(finalResult('OK')).toEqual({ ok: true });
    expect(finalResult('+CMS ERROR: 500')).toEqual({ ok: false, cme: { type: '+CMS ERROR', code: 500 } });
    expect(finalResult('+CSQ: 1,2')).toBeUndefined();
    expect(['+CSQN: 22,99', 'RING', 'NO CARRIER', '+QIND: "act","LTE"'].map(urcName)).toEqual(['+CSQN', 'RING', 'NO CARRIER', '+QIND']);
  });
});

// Remote input cannot flood the log: the dispatcher (no broker needed, `respond` collects the
// answers) logs failures and refusals rate-limited per kind, typed failures without a stack.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createLogLimiter } from '../log-limit.ts';
import { CommandError, createCommands, DEFAULT_COMMAND_LIMITS } from './commands.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({ write(chunk, _enc, cb) { lines.push(JSON.parse(String(chunk))); cb(); } });
  return { lines, log: pino({ level: 'info' }, stream) };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('command logging', () => {
  it('logs at most N lines per kind per interval, reports the suppressed count next time, no stack for typed errors', async () => {
    const { lines, log } = capture();
    let t = 0;
    const limiter = createLogLimiter({ max: 2, intervalMs: 60_000, now: () => t });
    const cmds = createCommands(log, DEFAULT_COMMAND_LIMITS, limiter);
    cmds.handle('typed', async () => { throw new CommandError('not_writable', 'read-only'); });
    cmds.handle('bug', async () => { throw new TypeError('x is undefined'); });
    const answers: string[] = [];
    const respond = (_topic: string, payload: string) => { answers.push(payload); return true; };
    const req = (name: string, responseTopic?: string) => ({ name, payload: Buffer.from('{}'), responseTopic });

    for (let i = 0; i < 20; i++) {
      await cmds.dispatch(req('typed', 'r/1'), respond, 65_536);
      await cmds.dispatch(req('bug', 'r/1'), respond, 65_536);
      await cmds.dispatch(req('typed'), respond, 65_536); // no response topic
      await cmds.dispatch(req('typed', 'r/+'), respond, 65_536);
    }
    await flush();
    expect(answers).toHaveLength(40); // every valid request is still answered
    const byMsg = (m: string) => lines.filter((l) => l.msg === m);
    expect(byMsg('command failed')).toHaveLength(2);
    expect(byMsg('command failed')[0]).toMatchObject({ cmd: 'typed', code: 'not_writable', err: 'read-only' });
    expect(JSON.stringify(byMsg('command failed'))).not.toMatch(/stack/);
    expect(byMsg('command handler failed')).toHaveLength(2);
    expect((byMsg('command handler failed')[0].err as { stack: string }).stack).toMatch(/TypeError/); // a bug keeps its stack
    expect(byMsg('command without responseTopic dropped')).toHaveLength(2);
    expect(byMsg('command refused: invalid response topic')).toHaveLength(2);
    expect(limiter.suppressed()).toBe(4 * 18);
    expect(cmds.stats()).toMatchObject({ received: 80, ok: 0, failed: 40, refused: 40 });

    t = 60_000;
    await cmds.dispatch(req('typed', 'r/1'), respond, 65_536);
    await flush();
    expect(byMsg('command failed').at(-1)).toMatchObject({ suppressed: 18 });
  });

  it('a command may have its own timeout and request cap', async () => {
    const { log } = capture();
    const cmds = createCommands(log, DEFAULT_COMMAND_LIMITS, createLogLimiter({ max: 5, intervalMs: 60_000 }));
    cmds.handle('slow', () => new Promise(() => {}), { timeoutMs: 50 });
    cmds.handle('tiny', async (req) => req, { maxRequestBytes: 8 });
    const answers: { error?: { code: string; message: string } }[] = [];
    const respond = (_t: string, payload: string) => { answers.push(JSON.parse(payload)); return true; };
    await cmds.dispatch({ name: 'slow', payload: Buffer.alloc(0), responseTopic: 'r' }, respond, 65_536);
    await cmds.dispatch({ name: 'tiny', payload: Buffer.from('"0123456789"'), responseTopic: 'r' }, respond, 65_536);
    expect(answers.map((a) => a.error?.code)).toEqual(['timeout', 'too_large']);
    expect(answers[0].error!.message).toMatch(/within 50 ms/);
    expect(() => cmds.handle('bad', async () => 1, { timeoutMs: 0 })).toThrow(/timeoutMs must be > 0/);
  });
});

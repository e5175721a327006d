// runtime/sdnotify.ts against a notify socket (test/support/systemd: the service manager's side,
// a stand-in since no systemd runs here) with the real systemd-notify as the sender.
import { afterEach, describe, expect, it } from 'vitest';
import { startNotifySocket, type NotifySocket } from '../test/support/systemd/notify-socket.ts';
import { sleep, until } from '../test/helpers/wait.ts';
import { createSdNotify } from './sdnotify.ts';
import type { Log } from './types.ts';

let sock: NotifySocket | undefined;
afterEach(async () => {
  await sock?.close();
  sock = undefined;
});

/** A logger that keeps what it is told (level, fields, message). */
function keptLog(): Log & { kept: [string, Record<string, unknown>, string][] } {
  const kept: [string, Record<string, unknown>, string][] = [];
  const at = (level: string) => (o: Record<string, unknown>, msg: string) => void kept.push([level, o, msg]);
  return { kept, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug'), child: () => keptLog() } as unknown as Log & { kept: typeof kept };
}

describe('createSdNotify', () => {
  it('without NOTIFY_SOCKET it is disabled and sends nothing', async () => {
    const log = keptLog();
    const n = createSdNotify({ env: { WATCHDOG_USEC: '100000' }, log, command: '/nonexistent/systemd-notify' });
    expect(n.enabled).toBe(false);
    expect(n.watchdogMs).toBeUndefined();
    n.ready('up');
    n.watchdog(() => undefined);
    n.stopping('bye');
    await n.close();
    expect(log.kept).toEqual([]);
  });

  it('withholds watchdog pings while the agent reports a problem, says so once, and resumes', async () => {
    sock = await startNotifySocket();
    const s = sock;
    const log = keptLog();
    const n = createSdNotify({ env: { NOTIFY_SOCKET: s.path, WATCHDOG_USEC: '200000' }, log });
    expect(n.watchdogMs).toBe(200);
    let problem: string | undefined = 'outbox: a write has not finished for 31 s';
    n.watchdog(() => problem);
    await sleep(800);
    expect(s.lines()).not.toContain('WATCHDOG=1');
    expect(log.kept.filter(([l]) => l === 'error')).toEqual([['error', { mod: 'sdnotify', problem }, 'watchdog ping withheld: systemd restarts the agent if this lasts']]);
    problem = undefined;
    await until(() => s.lines().filter((l) => l === 'WATCHDOG=1').length >= 2, 10_000, 'pings after the problem cleared');
    expect(log.kept.some(([l, , m]) => l === 'info' && m === 'watchdog pings resumed')).toBe(true);
    n.stopping('bye');
    await n.close();
    const after = s.messages.length;
    await sleep(400);
    expect(s.messages.length).toBe(after); // no ping after STOPPING=1
    expect(s.messages.filter((m) => m[0] !== 'BARRIER=1').at(-1)).toEqual(['STOPPING=1', 'STATUS=bye']);
  });

  it('a watchdog meant for another process (WATCHDOG_PID) is not fed', () => {
    const n = createSdNotify({ env: { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '100000', WATCHDOG_PID: String(process.pid + 1) } });
    expect(n.watchdogMs).toBeUndefined();
    expect(createSdNotify({ env: { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '100000', WATCHDOG_PID: String(process.pid) } }).watchdogMs).toBe(100);
  });

  it('a missing sender is reported once, not per message', async () => {
    const log = keptLog();
    const n = createSdNotify({ env: { NOTIFY_SOCKET: '/run/x' }, log, command: '/nonexistent/systemd-notify' });
    n.ready('up');
    n.status('a');
    n.status('b');
    await n.close();
    expect(log.kept.map(([l, o, m]) => [l, o.failures, m])).toEqual([['warn', 1, 'could not notify systemd']]);
  });

  it('a status equal to the last one sent is not sent again', async () => {
    sock = await startNotifySocket();
    const s = sock;
    const n = createSdNotify({ env: { NOTIFY_SOCKET: s.path } });
    n.ready('up');
    n.status('up');
    n.status('busy');
    n.status('busy');
    n.status('up');
    await n.close();
    await until(() => s.messages.length >= 6, 5000, 'the messages');
    expect(s.messages.filter((m) => m[0] !== 'BARRIER=1')).toEqual([['READY=1', 'STATUS=up'], ['STATUS=busy'], ['STATUS=up']]);
  });

  it('a status line is one bounded line', async () => {
    sock = await startNotifySocket();
    const s = sock;
    const n = createSdNotify({ env: { NOTIFY_SOCKET: s.path } });
    n.status(`two\nlines ${'x'.repeat(500)}`);
    await n.close();
    await until(() => s.messages.length >= 1, 5000, 'the status');
    expect(s.messages[0]).toHaveLength(1);
    expect(s.messages[0][0]).toMatch(/^STATUS=two lines x+$/);
    expect(s.messages[0][0].length).toBe('STATUS='.length + 200);
  });
});

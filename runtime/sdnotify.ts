// systemd's notify protocol (sd_notify) without a native addon: READY=1 once the agent is up,
// STATUS= lines, WATCHDOG=1 pings while the agent is healthy, STOPPING=1 on stop. Node cannot
// send on a unix datagram socket, so each message is handed to Debian's `systemd-notify`
// (package systemd, present wherever systemd runs the agent) in its default blocking mode: it
// sends the message, then a BARRIER=1 with a pipe and waits until the service manager has
// processed both. Without that wait systemd may read the datagram after the short-lived sender
// has exited and been reaped, cannot tell which unit it came from and drops it (the race the
// systemd-notify man page warns of for --no-block). The sender is a child of the agent, so the
// unit needs NotifyAccess=all (docs/systemd.md). Without NOTIFY_SOCKET everything is a no-op.
import { spawn } from 'node:child_process';
import type { Log } from './types.ts';

export interface SdNotifyOptions {
  /** Where NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID are read (default process.env, from which they are then removed). */
  env?: NodeJS.ProcessEnv;
  log?: Log;
  /** The sender (default `systemd-notify` on PATH). */
  command?: string;
  /** A sender that has not finished after this long is killed (default 10 s). */
  sendTimeoutMs?: number;
}

export interface SdNotifier {
  /** NOTIFY_SOCKET was set: messages are sent. */
  readonly enabled: boolean;
  /** The watchdog period systemd asked for (WATCHDOG_USEC), when it did and it is meant for this process. */
  readonly watchdogMs: number | undefined;
  /** READY=1 with a status line. */
  ready(status: string): void;
  /** STATUS= when it differs from the last one sent. */
  status(status: string): void;
  /**
   * Pings WATCHDOG=1 every watchdogMs/2 while `problem()` returns undefined; a returned reason
   * skips the ping (logged once per change), so a wedged agent is restarted by systemd. The
   * pings run on the event loop, so a blocked loop misses them by itself.
   */
  watchdog(problem: () => string | undefined): void;
  /** STOPPING=1 with a status line; ends the watchdog. */
  stopping(status: string): void;
  /** Ends the watchdog and resolves when the messages queued so far are sent. */
  close(): Promise<void>;
}

/** A status line: one line, bounded (systemd shows it in `systemctl status`). */
function statusLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ').slice(0, 200);
}

export function createSdNotify(opts: SdNotifyOptions = {}): SdNotifier {
  const env = opts.env ?? process.env;
  const socket = env.NOTIFY_SOCKET || undefined;
  const usec = Number(env.WATCHDOG_USEC);
  const wdPid = env.WATCHDOG_PID === undefined ? undefined : Number(env.WATCHDOG_PID);
  // Children (Node-RED nodes, ffmpeg) must not talk to systemd in the agent's name: NotifyAccess=all
  // would let them. sd_notify's unset_environment does the same.
  if (env === process.env) for (const k of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete process.env[k];
  const watchdogMs = socket && Number.isFinite(usec) && usec > 0 && (wdPid === undefined || wdPid === process.pid) ? usec / 1000 : undefined;
  const command = opts.command ?? 'systemd-notify';
  const timeoutMs = opts.sendTimeoutMs ?? 10_000;
  const log = opts.log;

  // One sender at a time, in order; watchdog pings coalesce while one is queued.
  const queue: string[][] = [];
  let sending: Promise<void> | undefined;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  let lastProblem: string | undefined;
  let lastStatus: string | undefined;

  const sendOne = (lines: string[]) =>
    new Promise<void>((resolve) => {
      let child;
      try {
        child = spawn(command, lines, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NOTIFY_SOCKET: socket } });
      } catch (err) {
        failed(lines, (err as Error).message);
        return resolve();
      }
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-500)));
      const kill = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('error', (err) => {
        clearTimeout(kill);
        failed(lines, err.message);
        resolve();
      });
      child.once('close', (code, signal) => {
        clearTimeout(kill);
        if (code === 0) failures = 0;
        else if (code !== null || signal) failed(lines, signal ? `killed (${signal}) after ${timeoutMs} ms` : `exit ${code}: ${stderr.trim()}`);
        resolve();
      });
    });
  const failed = (lines: string[], why: string) => {
    // Said once, then every 100th time: a missing systemd-notify must not fill the journal.
    if (failures++ % 100 === 0) log?.warn({ mod: 'sdnotify', message: lines.join(' '), err: why, failures }, 'could not notify systemd');
  };
  const pump = () => {
    if (sending || queue.length === 0) return;
    const lines = queue.shift()!;
    sending = sendOne(lines).then(() => {
      sending = undefined;
      pump();
    });
  };
  const send = (lines: string[]) => {
    if (!socket) return;
    if (lines[0] === 'WATCHDOG=1' && queue.some((l) => l[0] === 'WATCHDOG=1')) return;
    queue.push(lines);
    pump();
  };
  const stopWatchdog = () => {
    if (timer) clearInterval(timer);
    timer = undefined;
  };

  return {
    enabled: socket !== undefined,
    watchdogMs,
    ready: (status) => send(['READY=1', `STATUS=${(lastStatus = statusLine(status))}`]),
    status: (status) => {
      const line = statusLine(status);
      if (line === lastStatus) return;
      lastStatus = line;
      send([`STATUS=${line}`]);
    },
    stopping: (status) => {
      stopWatchdog();
      send(['STOPPING=1', `STATUS=${(lastStatus = statusLine(status))}`]);
    },
    watchdog(problem) {
      if (watchdogMs === undefined || timer) return;
      const ping = () => {
        let why: string | undefined;
        try {
          why = problem();
        } catch (err) {
          why = `health check failed: ${(err as Error).message}`;
        }
        if (why !== lastProblem) {
          if (why) log?.error({ mod: 'sdnotify', problem: why }, 'watchdog ping withheld: systemd restarts the agent if this lasts');
          else if (lastProblem) log?.info({ mod: 'sdnotify' }, 'watchdog pings resumed');
          lastProblem = why;
        }
        if (!why) send(['WATCHDOG=1']);
      };
      timer = setInterval(ping, Math.max(50, watchdogMs / 2));
      timer.unref();
      ping();
    },
    async close() {
      stopWatchdog();
      while (sending) await sending;
    },
  };
}

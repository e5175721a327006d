// The service manager's side of the sd_notify protocol for tests: a unix datagram socket that
// collects every message. Node cannot bind one, so a Perl one-liner (Debian's perl-base, always
// installed) owns it. A stand-in for systemd, since no systemd runs in the test container: like
// systemd it reads each datagram without keeping passed file descriptors, which closes the
// pipe a BARRIER=1 message carries, so a blocking `systemd-notify` returns as it does under
// systemd. (`socat UNIX-RECV` keeps those descriptors open: every send would then wait out
// systemd-notify's 5 s barrier timeout.)
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const RECEIVER = `
use Socket; $| = 1;
socket(my $s, PF_UNIX, SOCK_DGRAM, 0) or die "socket: $!";
bind($s, pack_sockaddr_un($ARGV[0])) or die "bind $ARGV[0]: $!";
print "bound\\n";
while (defined(recv($s, my $buf, 65536, 0))) { $buf =~ s/\\\\/\\\\\\\\/g; $buf =~ s/\\n/\\\\n/g; print "$buf\\n"; }
`;

export interface NotifySocket {
  /** The socket path: what NOTIFY_SOCKET gets. */
  path: string;
  /** Every datagram received so far, its lines split (`["READY=1", "STATUS=running"]`). */
  messages: string[][];
  /** All lines of all messages, in order. */
  lines(): string[];
  close(): Promise<void>;
}

export async function startNotifySocket(dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-notify-'))): Promise<NotifySocket> {
  const sock = path.join(dir, 'notify');
  const proc: ChildProcess = spawn('perl', ['-e', RECEIVER, sock], { stdio: ['ignore', 'pipe', 'pipe'] });
  const messages: string[][] = [];
  let buf = '';
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let bound: () => void;
  const ready = new Promise<void>((r) => (bound = r));
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line === 'bound') bound();
      else messages.push(line.split('\\n').filter(Boolean).map((l) => l.replace(/\\\\/g, '\\')));
    }
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  await Promise.race([ready, exited.then(() => Promise.reject(new Error(`notify socket receiver exited: ${stderr.trim()}`)))]);
  if (!existsSync(sock)) throw new Error(`notify socket ${sock} was not created`);
  return {
    path: sock,
    messages,
    lines: () => messages.flat(),
    async close() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await exited;
      }
    },
  };
}

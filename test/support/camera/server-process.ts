// The MJPEG test camera (servers.ts) as a separate process, so a test can kill -9 it mid-stream
// (the connection drops like a camera losing power), freeze it (SIGSTOP: connection open, no
// frames) and start it again on the same port.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./servers.ts', import.meta.url));

export interface CameraProcess {
  port: number;
  url: string;
  pid: number;
  kill9(): Promise<void>;
  freeze(on: boolean): void;
  /** Starts a new server on the same port (after kill9). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

async function launch(port: number, fps: number): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [SCRIPT, 'mjpeg', String(port), String(fps)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const got = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('camera server did not start in 10 s')), 10_000);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) (clearTimeout(timer), resolve(Number(m[1])));
    });
    child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`camera server exited with ${code}`))));
  });
  return { child, port: got };
}

export async function startCameraProcess(fps = 10): Promise<CameraProcess> {
  let { child, port } = await launch(0, fps);
  const dead = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));
  const self: CameraProcess = {
    port,
    url: `http://127.0.0.1:${port}/mjpeg`,
    get pid() {
      return child.pid!;
    },
    async kill9() {
      child.kill('SIGKILL');
      await dead(child);
    },
    freeze(on) {
      child.kill(on ? 'SIGSTOP' : 'SIGCONT');
    },
    async restart() {
      ({ child } = await launch(port, fps));
    },
    async close() {
      child.kill('SIGKILL');
      await dead(child);
    },
  };
  return self;
}

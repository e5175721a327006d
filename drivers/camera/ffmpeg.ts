// One ffmpeg child per connection: RTSP, HTTP MJPEG and files go in, decoded frames come out
// on stdout, cut by exact byte size; or, for sound, mono s16le PCM. Frames come as PPM
// (`-f image2pipe -c:v ppm`): a ~15-byte header before each w*h*3 bytes of RGB names the size,
// so the analysis size may keep the source's aspect without probing the stream first. stderr
// goes to a bounded tail that names the reason when the process ends. The child is killed with
// SIGKILL (a stuck RTSP read ignores SIGTERM) and reaped before stop() returns.
import { setPriority } from 'node:os';
import { spawn, type ChildProcess } from 'node:child_process';
import { createStderrTail, type StreamFault } from './stderr.ts';
import type { CameraSource } from './schema.ts';
import type { Session, SessionHandlers } from './source.ts';

export interface VideoArgsOptions {
  source: CameraSource;
  /** URL with the credentials inside (never logged). */
  url: string;
  fps: number;
  /** The analysis size: both, one (the other keeps the aspect) or a box to fit in. */
  size: { width?: number; height?: number; fit?: { width: number; height: number } };
  rtspTransport: 'tcp' | 'udp';
  loop: boolean;
  timeoutMs: number;
}

/** Input options and the input itself, shared by the video and the sound process. */
export function inputArgs(o: Pick<VideoArgsOptions, 'source' | 'url' | 'rtspTransport' | 'loop' | 'timeoutMs'>): string[] {
  const us = String(Math.round(o.timeoutMs * 1000));
  switch (o.source.kind) {
    case 'rtsp': return ['-rtsp_transport', o.rtspTransport, '-timeout', us, '-i', o.url];
    case 'mjpeg': case 'snapshot': return ['-rw_timeout', us, '-i', o.url];
    case 'file': return ['-re', ...(o.loop ? ['-stream_loop', '-1'] : []), '-i', o.source.target];
    case 'alsa': return ['-f', 'alsa', '-i', o.source.target];
  }
}

/** The scale filter for the analysis size. */
export function scaleFilter(size: VideoArgsOptions['size']): string {
  if (size.width && size.height) return `scale=${size.width}:${size.height}`;
  if (size.width) return `scale=${size.width}:-2`;
  if (size.height) return `scale=-2:${size.height}`;
  if (size.fit) return `scale=w=${size.fit.width}:h=${size.fit.height}:force_original_aspect_ratio=decrease`;
  return 'scale=w=min(640\\,iw):h=-2'; // 640 wide at most (never upscaled), same aspect
}

const HEAD = ['-hide_banner', '-loglevel', 'error', '-nostdin'];

export function videoArgs(o: VideoArgsOptions): string[] {
  return [...HEAD, ...inputArgs(o), '-an', '-sn', '-dn', '-vf', `fps=${o.fps},${scaleFilter(o.size)}`, '-f', 'image2pipe', '-c:v', 'ppm', '-pix_fmt', 'rgb24', 'pipe:1'];
}

export function audioArgs(o: Pick<VideoArgsOptions, 'source' | 'url' | 'rtspTransport' | 'loop' | 'timeoutMs'> & { sampleRate: number }): string[] {
  return [...HEAD, ...inputArgs(o), '-vn', '-sn', '-dn', '-ac', '1', '-ar', String(o.sampleRate), '-f', 's16le', 'pipe:1'];
}

/**
 * Cuts PPM (P6, maxval 255) frames out of a byte stream. Holds at most one frame being filled;
 * a header that does not parse is a codec fault (the stream is not what we asked ffmpeg for).
 */
export function createPpmCutter(onFrame: (data: Uint8Array, width: number, height: number) => void) {
  let head = Buffer.alloc(0);
  let frame: Uint8Array | undefined;
  let filled = 0;
  let w = 0;
  let h = 0;
  return {
    push(chunk: Buffer): void {
      let off = 0;
      while (off < chunk.length) {
        if (!frame) {
          const take = Math.min(chunk.length - off, 64 - head.length);
          const buf = Buffer.concat([head, chunk.subarray(off, off + take)]);
          const m = /^P6\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(buf.toString('latin1'));
          if (!m) {
            if (buf.length >= 64 || (buf.length >= 2 && buf.toString('latin1', 0, 2) !== 'P6')) throw new Error('ffmpeg wrote something that is not a PPM frame');
            head = buf;
            off += take;
            continue;
          }
          [w, h] = [Number(m[1]), Number(m[2])];
          if (Number(m[3]) !== 255 || !(w > 0 && h > 0 && w * h <= 8192 * 8192)) throw new Error(`unexpected PPM frame ${w}x${h} maxval ${m[3]}`);
          // The header ended inside `buf`: what follows it belongs to the frame.
          off += m[0].length - head.length;
          head = Buffer.alloc(0);
          frame = new Uint8Array(w * h * 3);
          filled = 0;
          continue;
        }
        const n = Math.min(frame.length - filled, chunk.length - off);
        frame.set(chunk.subarray(off, off + n), filled);
        filled += n;
        off += n;
        if (filled === frame.length) {
          const done = frame;
          frame = undefined;
          onFrame(done, w, h);
        }
      }
    },
  };
}

/** Nice value of the decoder processes (lower priority than the agent's own thread). */
export const FFMPEG_NICE = 10;

/** Starts an ffmpeg child and reports its output and, once, its end with the reason. */
export function ffmpegSession(args: string[], h: SessionHandlers, mode: 'ppm' | 'pcm', bin = 'ffmpeg'): Session {
  const tail = createStderrTail();
  let ended = false;
  let killedFor: StreamFault | undefined;
  let child: ChildProcess;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const end = (fault: StreamFault) => {
    if (ended) return;
    ended = true;
    h.end(fault);
  };
  const kill = (why?: StreamFault) => {
    killedFor ??= why;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  try {
    child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    // Decoding yields to the agent: the field drivers' polls and the uplink come first.
    if (child.pid) {
      try {
        setPriority(child.pid, FFMPEG_NICE);
      } catch {
        // not allowed here (a container without CAP_SYS_NICE may refuse): run at normal priority
      }
    }
  } catch (err) {
    queueMicrotask(() => end({ reason: 'spawn', message: `cannot start ${bin}: ${(err as Error).message}` }));
    resolveDone();
    return { pid: undefined, kill: () => {}, done };
  }
  const cutter = mode === 'ppm' ? createPpmCutter(h.frame) : undefined;
  child.stdout!.on('data', (chunk: Buffer) => {
    if (ended) return;
    if (!cutter) return h.pcm?.(chunk);
    try {
      cutter.push(chunk);
    } catch (err) {
      kill({ reason: 'codec', message: (err as Error).message });
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => tail.push(chunk));
  child.on('error', (err: NodeJS.ErrnoException) => {
    // ENOENT: no ffmpeg on the gateway. 'close' may not follow a failed spawn.
    end({ reason: 'spawn', message: err.code === 'ENOENT' ? `${bin} not found (install the ffmpeg package)` : `cannot start ${bin}: ${err.message}` });
    resolveDone();
  });
  child.on('close', (code, signal) => {
    const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
    end(killedFor ?? tail.fault(code === 0 ? { reason: 'ended', message: `the stream ended (ffmpeg ${how})` } : { reason: 'other', message: `ffmpeg ${how}` }));
    resolveDone();
  });
  return { pid: child.pid, kill, done };
}

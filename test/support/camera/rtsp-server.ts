// A small RTSP camera on 127.0.0.1 for tests (ffmpeg 5.1 cannot serve RTSP itself: its RTSP
// muxer only pushes to a server). Real ffmpeg packetizes an H.264 clip into RTP (`-f rtp`, with
// the SDP it writes); this server speaks RTSP to the client (OPTIONS, DESCRIBE with optional
// Basic auth, SETUP of interleaved TCP transport, PLAY, TEARDOWN) and relays the RTP packets
// over the RTSP connection ($-framed), as cameras do with `rtsp_transport tcp`.
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface RtspServer {
  port: number;
  url(path?: string): string;
  /** RTSP methods received, with whether they carried credentials. */
  requests: { method: string; path: string; authorized: boolean }[];
  /** Drops every connection and stops listening (a camera losing power). */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startRtspServer(o: { clip: string; dir: string; path?: string; auth?: { user: string; pass: string } }): Promise<RtspServer> {
  const path = o.path ?? '/live';
  // RTP in: a UDP pair (RTP, RTCP) ffmpeg sends to.
  const bind = (s: UdpSocket, port = 0) => new Promise<number>((r) => s.bind(port, '127.0.0.1', () => r((s.address() as AddressInfo).port)));
  const rtp = createSocket('udp4');
  const rtcp = createSocket('udp4');
  const rtpPort = await bind(rtp);
  await new Promise<void>((resolve, reject) => {
    rtcp.once('error', (err) => reject(new Error(`RTCP port ${rtpPort + 1} is taken: ${err.message}`)));
    rtcp.bind(rtpPort + 1, '127.0.0.1', () => resolve());
  });
  rtcp.on('message', () => {});
  const sdpFile = join(o.dir, `rtsp-${rtpPort}.sdp`);
  const ffmpeg: ChildProcess = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re', '-stream_loop', '-1', '-i', o.clip, '-an', '-c:v', 'copy', '-f', 'rtp', '-sdp_file', sdpFile, `rtp://127.0.0.1:${rtpPort}?rtcpport=${rtpPort + 1}&pkt_size=1200`], { stdio: 'ignore' });
  // Wait for the first RTP packet: the SDP file is written by then.
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('ffmpeg sent no RTP in 10 s')), 10_000);
    rtp.once('message', () => (clearTimeout(t), resolve()));
  });
  const sdp = readFileSync(sdpFile, 'utf8')
    .replace(/^m=video \d+/m, 'm=video 0')
    .replace(/^c=IN IP4 .*$/m, 'c=IN IP4 0.0.0.0')
    .replace(/^(m=video.*)$/m, '$1\r\na=control:track0')
    .replace(/\r?\n/g, '\r\n');

  const players = new Set<Socket>();
  const sockets = new Set<Socket>();
  rtp.on('message', (pkt) => {
    const head = Buffer.from([0x24, 0, pkt.length >> 8, pkt.length & 0xff]);
    for (const s of players) if (!s.destroyed) s.write(Buffer.concat([head, pkt]));
  });

  const requests: RtspServer['requests'] = [];
  const basic = o.auth && `Basic ${Buffer.from(`${o.auth.user}:${o.auth.pass}`).toString('base64')}`;
  const handle = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => (sockets.delete(s), players.delete(s)));
    s.on('error', () => {});
    let buf = '';
    s.on('data', (chunk) => {
      buf += chunk.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        const [line, ...hdrs] = head.split('\r\n');
        const [method, uri] = line.split(' ');
        const h = new Map(hdrs.map((x) => [x.slice(0, x.indexOf(':')).toLowerCase(), x.slice(x.indexOf(':') + 1).trim()]));
        const cseq = h.get('cseq') ?? '0';
        const authorized = !basic || h.get('authorization') === basic;
        const reqPath = (() => { try { return new URL(uri).pathname; } catch { return uri; } })();
        requests.push({ method, path: reqPath, authorized: !!h.get('authorization') && authorized });
        const reply = (status: string, extra: string[] = [], body = '') =>
          s.write([`RTSP/1.0 ${status}`, `CSeq: ${cseq}`, ...extra, ...(body ? [`Content-Length: ${Buffer.byteLength(body)}`] : []), '', body].join('\r\n'));
        if (method === 'OPTIONS') { reply('200 OK', ['Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN']); continue; }
        if (!authorized) { reply('401 Unauthorized', ['WWW-Authenticate: Basic realm="camera"']); continue; }
        if (!reqPath.startsWith(path)) { reply('404 Not Found'); continue; }
        if (method === 'DESCRIBE') reply('200 OK', [`Content-Base: ${uri.replace(/\/?$/, '/')}`, 'Content-Type: application/sdp'], sdp);
        else if (method === 'SETUP') {
          if (!/interleaved/.test(h.get('transport') ?? '')) { reply('461 Unsupported Transport'); continue; }
          reply('200 OK', ['Transport: RTP/AVP/TCP;unicast;interleaved=0-1', 'Session: 12345678;timeout=60']);
        } else if (method === 'PLAY') {
          reply('200 OK', ['Session: 12345678']);
          players.add(s);
        } else if (method === 'TEARDOWN') {
          reply('200 OK', ['Session: 12345678']);
          s.end();
        } else reply('405 Method Not Allowed');
      }
    });
  };

  let server: Server | undefined;
  let port = 0;
  const listen = () => new Promise<void>((resolve, reject) => {
    server = createServer(handle);
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      port = (server!.address() as AddressInfo).port;
      resolve();
    });
  });
  const down = async () => {
    for (const s of sockets) s.destroy();
    players.clear();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  };
  await listen();
  return {
    get port() {
      return port;
    },
    url: (p = path) => `rtsp://127.0.0.1:${port}${p}`,
    requests,
    down,
    up: listen,
    async close() {
      await down();
      ffmpeg.kill('SIGKILL');
      await new Promise<void>((r) => (ffmpeg.exitCode !== null || ffmpeg.signalCode !== null ? r() : ffmpeg.once('exit', () => r())));
      rtp.close();
      rtcp.close();
    },
  };
}

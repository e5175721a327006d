// Server-sent event streams of the status page: one per open page (or `wayside watch`), tied to
// its login session. The hub sends each stream its first full view, then the deltas it is
// given, at most MAX_RATE_HZ per second (the service coalesces), a comment line every 15 s so
// proxies and NAT keep the connection, and closes a session's streams when it ends.
import type { ServerResponse } from 'node:http';

export const HEARTBEAT_MS = 15_000;
export const MAX_STREAMS = 32;

interface Stream {
  res: ServerResponse;
  session: string;
}

export interface SseHub {
  /** Opens a stream on `res`; false (and a 503) when MAX_STREAMS are open. */
  open(res: ServerResponse, session: string, first: { event: string; data: unknown }): boolean;
  send(event: string, data: unknown): void;
  closeSession(session: string): void;
  count(): number;
  close(): void;
}

export function createSseHub(): SseHub {
  const streams = new Set<Stream>();
  const frame = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
  const end = (s: Stream) => {
    streams.delete(s);
    if (!s.res.writableEnded) s.res.end();
  };
  const heartbeat = setInterval(() => {
    for (const s of streams) s.res.write(': keep-alive\n\n');
  }, HEARTBEAT_MS);
  heartbeat.unref();
  return {
    open(res, session, first) {
      if (streams.size >= MAX_STREAMS) {
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '10' });
        res.end('too many open status streams\n');
        return false;
      }
      const s: Stream = { res, session };
      streams.add(s);
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      // Reconnect after 2 s when the agent restarts.
      res.write(`retry: 2000\n${frame(first.event, first.data)}`);
      res.on('close', () => streams.delete(s));
      return true;
    },
    send(event, data) {
      if (!streams.size) return;
      const text = frame(event, data);
      for (const s of streams) s.res.write(text);
    },
    closeSession(session) {
      for (const s of [...streams]) if (s.session === session) end(s);
    },
    count: () => streams.size,
    close() {
      clearInterval(heartbeat);
      for (const s of [...streams]) end(s);
    },
  };
}

// The agent's one HTTP server: /healthz and /metrics now; Node-RED and the status page
// mount on the same server later.
import type * as HttpModule from 'node:http';

// Not `import http from 'node:http'`: an ESM import of node:http builds its namespace, whose lazy
// getters load undici and http2 (~15 MB of RSS for a server that needs neither; docs/footprint.md).
const http: typeof HttpModule = process.getBuiltinModule('node:http');
import type { AddressInfo } from 'node:net';
import type { AgentHealth } from './health.ts';
import type { Log } from './types.ts';

export type MountedHandler = (req: HttpModule.IncomingMessage, res: HttpModule.ServerResponse) => void;

export interface HttpServer {
  server: HttpModule.Server;
  /**
   * Serve every request whose path starts with `prefix` (e.g. Node-RED's editor and its
   * HTTP-in nodes) from `handler`; /healthz and /metrics stay the agent's own.
   */
  mount(prefix: string, handler: MountedHandler): void;
  unmount(prefix: string): void;
  address(): { host: string; port: number };
  close(): Promise<void>;
}

export async function startHttp(
  opts: { host: string; port: number },
  deps: { log: Log; health: () => AgentHealth; metrics: { contentType: string; text(): Promise<string> } },
): Promise<HttpServer> {
  const log = deps.log.child({ mod: 'http' });
  const mounts = new Map<string, MountedHandler>();
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (url !== '/healthz' && url !== '/metrics') {
      // Longest prefix first, so '/editor' wins over '/'.
      const prefix = [...mounts.keys()].filter((p) => url === p || url.startsWith(p.endsWith('/') ? p : p + '/')).sort((a, b) => b.length - a.length)[0];
      if (prefix !== undefined) return mounts.get(prefix)!(req, res);
    }
    const send = (code: number, type: string, body: string) => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    if (url === '/healthz') {
      const h = deps.health();
      // 200 even when degraded: the agent is alive; the body says what is wrong.
      return send(200, 'application/json', JSON.stringify(h, null, 2) + '\n');
    }
    if (url === '/metrics') {
      deps.metrics.text().then(
        (body) => send(200, deps.metrics.contentType, body),
        (err: unknown) => {
          log.error({ err }, 'metrics failed');
          send(500, 'text/plain', 'metrics failed\n');
        },
      );
      return;
    }
    send(404, 'text/plain', 'not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  log.info({ host: addr.address, port: addr.port }, 'http listening');
  return {
    server,
    mount: (prefix, handler) => void mounts.set(prefix, handler),
    unmount: (prefix) => void mounts.delete(prefix),
    address: () => ({ host: addr.address, port: addr.port }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMosquitto, subscribeCollector, sleep, type Mosquitto } from '../../test/helpers/mosquitto.ts';
import { makeTestPki, type TestPki } from '../../test/helpers/certs.ts';
import { silentLog } from '../log.ts';
import { createUplink, type UplinkOptions } from './index.ts';
import { createMemoryOutbox } from '../../test/support/uplink/memory-outbox.ts';
import { recordFactory } from '../../test/support/uplink/test-records.ts';
import { until } from '../../test/helpers/wait.ts';

const log = silentLog();
let dir: string;
let pki: TestPki;
let otherPki: TestPki;
let tlsBroker: Mosquitto;
let authBroker: Mosquitto;

function options(url: string, over: Partial<UplinkOptions> = {}): UplinkOptions {
  return {
    url,
    clientId: `gw-tls-${Math.random().toString(36).slice(2, 8)}`,
    topicPrefix: 'wayside',
    keepaliveMs: 30_000,
    maxBatchRecords: 100,
    maxPayloadBytes: 64 * 1024,
    inflight: 4,
    reconnect: { minMs: 50, maxMs: 300 },
    connectTimeoutMs: 3_000,
    ...over,
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wayside-tls-'));
  pki = makeTestPki(join(dir, 'pki'));
  otherPki = makeTestPki(join(dir, 'other'), { cn: 'some-other-ca' });
  tlsBroker = await startMosquitto({ tls: { caFile: pki.caFile, certFile: pki.serverCert, keyFile: pki.serverKey, requireClientCert: true } });
  authBroker = await startMosquitto({ users: { gw1: 's3cret-pass', platform: 'platform-pass' } });
});
afterAll(async () => {
  await tlsBroker?.destroy();
  await authBroker?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('TLS', () => {
  it('connects with mutual TLS and delivers records', async () => {
    const gw = 'gw-mtls';
    const collector = await subscribeCollector(tlsBroker.url, `wayside/${gw}/#`);
    const outbox = createMemoryOutbox();
    const make = recordFactory();
    await outbox.append(Array.from({ length: 20 }, () => make('event')));
    const up = createUplink(
      options(tlsBroker.tlsUrl!, { tls: { ca: pki.caFile, cert: pki.clientCert, key: pki.clientKey, rejectUnauthorized: true } }),
      { log, outbox, gatewayId: gw, birth: () => ({}) },
    );
    up.start();
    try {
      await collector.waitFor((m) => m.topic.endsWith('/state') && m.payload.online === true, 5_000);
      await until(() => outbox.stats().depth === 0, 5_000, 'drained over TLS');
      expect(up.state()).toMatchObject({ connected: true, acked: 20 });
    } finally {
      await up.stop();
      await collector.close();
    }
  });

  it('fails to connect with the wrong CA: reports lastError, keeps retrying, never throws', async () => {
    const outbox = createMemoryOutbox();
    await outbox.append([recordFactory()('event')]);
    const up = createUplink(
      options(tlsBroker.tlsUrl!, { tls: { ca: otherPki.caFile, cert: pki.clientCert, key: pki.clientKey, rejectUnauthorized: true } }),
      { log, outbox, gatewayId: 'gw-badca', birth: () => ({}) },
    );
    up.start();
    try {
      await until(() => up.state().connectFailures >= 2, 5_000, 'retries');
      const s = up.state();
      expect(s.connected).toBe(false);
      expect(s.lastError).toMatch(/certificate|self.signed|issuer/i);
      expect(outbox.stats().depth).toBe(1);
    } finally {
      await up.stop();
    }
  });

  it('is refused without a client certificate', async () => {
    const up = createUplink(options(tlsBroker.tlsUrl!, { tls: { ca: pki.caFile, rejectUnauthorized: true } }), {
      log, outbox: createMemoryOutbox(), gatewayId: 'gw-nocert', birth: () => ({}),
    });
    up.start();
    try {
      await until(() => up.state().lastError !== undefined && up.state().connectFailures >= 1, 5_000, 'an error');
      expect(up.state().connected).toBe(false);
    } finally {
      await up.stop();
    }
  });

  it('reports a missing certificate file as an error, not a throw', async () => {
    const up = createUplink(options(tlsBroker.tlsUrl!, { tls: { ca: join(dir, 'missing.crt'), rejectUnauthorized: true } }), {
      log, outbox: createMemoryOutbox(), gatewayId: 'gw-nofile', birth: () => ({}),
    });
    up.start();
    try {
      await until(() => up.state().lastError !== undefined, 2_000, 'an error');
      expect(up.state().lastError).toMatch(/ENOENT/);
    } finally {
      await up.stop();
    }
  });
});

describe('username/password', () => {
  it('connects with the right password and is refused with a wrong one', async () => {
    const gw = 'gw-auth';
    const collector = await subscribeCollector(authBroker.url, `wayside/${gw}/#`, { username: 'platform', password: 'platform-pass' });
    const good = createUplink(options(authBroker.url, { username: 'gw1', password: 's3cret-pass' }), {
      log, outbox: createMemoryOutbox(), gatewayId: gw, birth: () => ({}),
    });
    const bad = createUplink(options(authBroker.url, { username: 'gw1', password: 'wrong' }), {
      log, outbox: createMemoryOutbox(), gatewayId: 'gw-auth-bad', birth: () => ({}),
    });
    good.start();
    bad.start();
    try {
      await collector.waitFor((m) => m.payload?.online === true, 5_000);
      expect(good.state().connected).toBe(true);
      await until(() => bad.state().connectFailures >= 2, 5_000, 'bad credentials retries');
      expect(bad.state().connected).toBe(false);
      expect(bad.state().lastError).toMatch(/Bad User Name or Password|Not authorized/i);
    } finally {
      await good.stop();
      await bad.stop();
      await collector.close();
    }
  });
});

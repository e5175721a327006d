// The sender on its own, with a link the test drives (no broker needed to check its
// bookkeeping; the broker-facing behaviour is tested against mosquitto in uplink.test.ts).
import { describe, expect, it } from 'vitest';
import { silentLog } from '../log.ts';
import { createMemoryOutbox } from '../../test/support/uplink/memory-outbox.ts';
import { createSender, type Link } from './sender.ts';
import { recordFactory } from '../../test/support/uplink/test-records.ts';

function link(window: number): Link & { published: { topic: string; done: (err?: Error) => void }[] } {
  const published: { topic: string; done: (err?: Error) => void }[] = [];
  return { published, publish: (topic, _payload, done) => void published.push({ topic, done }), window: () => window, maxPayloadBytes: 1 << 20, onError: () => {} };
}

describe('sender', () => {
  it('acks the outbox only up to the contiguous PUBACKed prefix', async () => {
    const outbox = createMemoryOutbox();
    const make = recordFactory();
    await outbox.append([make('event'), make('summary'), make('event')]);
    const sender = createSender({ gateway: 'g', maxBatchRecords: 10, maxPayloadBytes: 1 << 20, up: (k) => `up/${k}` }, { outbox, log: silentLog() });
    const l = link(8);
    sender.begin(l);
    // Two batches per loop turn; the third follows on the next turn.
    expect(l.published.map((p) => p.topic)).toEqual(['up/event', 'up/summary']);
    await new Promise((r) => setImmediate(r));
    expect(l.published.map((p) => p.topic)).toEqual(['up/event', 'up/summary', 'up/event']);
    l.published[2].done(); // the third PUBACK first: nothing may leave the outbox yet
    sender.flushAck();
    expect(outbox.stats().depth).toBe(3);
    l.published[0].done();
    sender.flushAck();
    expect(outbox.stats().depth).toBe(2);
    l.published[1].done();
    sender.flushAck();
    expect(outbox.stats().depth).toBe(0);
  });

  it('never throws into the MQTT client when the outbox fails (agent stopping)', async () => {
    const outbox = createMemoryOutbox();
    await outbox.append([recordFactory()('event')]);
    const failing = { ...outbox, peek: () => { throw new Error('outbox closed'); } };
    const sender = createSender({ gateway: 'g', maxBatchRecords: 10, maxPayloadBytes: 1 << 20, up: (k) => `up/${k}` }, { outbox: failing, log: silentLog() });
    const l = link(8);
    expect(() => sender.begin(l)).not.toThrow();
    expect(() => sender.pump()).not.toThrow();
    expect(l.published).toEqual([]);
  });
});

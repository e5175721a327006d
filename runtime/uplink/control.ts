// Control publishes (birth, stop state, command responses) on one connection. They share the
// broker's receive maximum with the data window: a broker may drop a client that exceeds it, so
// they wait in a queue while it is full and go before the next data batch.
import type { IClientPublishOptions, MqttClient } from 'mqtt';
import type { Log } from '../types.ts';
import type { LogLimiter } from '../log-limit.ts';

/** Command responses waiting for room; beyond this they are dropped (the platform times out). */
export const MAX_QUEUED_RESPONSES = 256;

export interface ControlLane {
  /** A new connection. `dataInflight`: unacked data publishes; `settled`: called after each control PUBACK. */
  begin(c: MqttClient, receiveMax: number, dataInflight: () => number, settled: () => void): void;
  /** Connection gone: queued messages are forgotten, late PUBACKs ignored. */
  end(): void;
  /** Queues (and sends when there is room); false when there is no connection or the response queue is full. */
  publish(topic: string, payload: string, o: IClientPublishOptions, opts?: { response?: boolean; done?: () => void }): boolean;
  /** Sends what the window has room for (after any PUBACK). */
  drain(): void;
  /** Unacked plus queued control messages: the room the data window leaves them. */
  reserved(): number;
}

interface Queued {
  topic: string;
  payload: string;
  o: IClientPublishOptions;
  done?: () => void;
}

export function createControlLane(log: Log, limiter: LogLimiter): ControlLane {
  let client: MqttClient | undefined;
  let gen = 0;
  let receiveMax = 65_535;
  let dataInflight = () => 0;
  let settled = () => {};
  let inflight = 0;
  const queue: Queued[] = [];

  const drain = () => {
    const c = client;
    const myGen = gen;
    while (c && queue.length && dataInflight() + inflight < receiveMax) {
      const m = queue.shift()!;
      inflight++;
      c.publish(m.topic, m.payload, m.o, (err) => {
        if (myGen !== gen) return;
        inflight--;
        // A response topic the broker refuses (ACL) is remote input: rate-limited.
        const t = err ? limiter.take('control_publish_failed') : undefined;
        if (t) log.warn({ topic: m.topic.slice(0, 80), err: err?.message, ...t }, 'control publish failed');
        m.done?.();
        drain();
        settled();
      });
    }
  };

  return {
    begin(c, max, data, onSettled) {
      gen++;
      client = c;
      receiveMax = max;
      dataInflight = data;
      settled = onSettled;
      inflight = 0;
      queue.length = 0;
    },
    end() {
      gen++;
      client = undefined;
      inflight = 0;
      queue.length = 0;
    },
    publish(topic, payload, o, opts = {}) {
      if (!client) return false;
      if (opts.response && queue.length >= MAX_QUEUED_RESPONSES) {
        const t = limiter.take('response_queue_full');
        if (t) log.warn({ topic: topic.slice(0, 80), queued: queue.length, ...t }, 'command response dropped: too many waiting for the broker');
        return false;
      }
      queue.push({ topic, payload, o, done: opts.done });
      drain();
      return true;
    },
    drain,
    reserved: () => inflight + queue.length,
  };
}

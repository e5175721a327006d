// Typed in-process bus. Every listener runs inside its own try/catch: one broken
// consumer (a driver, a flow node) never stops delivery to the others.
import type { Bus, BusMap, Log } from './types.ts';

type Listener = { owner: string; fn: (msg: never) => void };

export function createBus(log: Log): Bus & { errors(): number } {
  const listeners: { [K in keyof BusMap]: Listener[] } = { reading: [], event: [], summary: [] };
  let errors = 0;
  return {
    on(type, owner, fn) {
      listeners[type].push({ owner, fn: fn as (msg: never) => void });
    },
    emit(type, msg) {
      for (const l of listeners[type]) {
        try {
          (l.fn as (m: typeof msg) => void)(msg);
        } catch (err) {
          errors++;
          log.error({ mod: 'bus', owner: l.owner, type, err }, 'bus listener failed');
        }
      }
    },
    off(owner) {
      for (const k of Object.keys(listeners) as (keyof BusMap)[]) {
        listeners[k] = listeners[k].filter((l) => l.owner !== owner);
      }
    },
    errors: () => errors,
  };
}

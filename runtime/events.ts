// Raising an event on the bus: a fresh sortable id from the ctx's generator, the wall-clock
// stamp and, while the clock is not trusted, its flag. Every producer of events goes through here.
import type { Bus, Clock, Severity, WaysideEvent } from './types.ts';
import type { AgentEventNamespace, EventPayloads, EventType } from './uplink/protocol.ts';

interface EventHead {
  device?: string;
  point?: string;
  severity: Severity;
  state?: 'raise' | 'clear';
}

/** An agent event: the type is one of the protocol's and `data` must match it. */
export type AgentEventInput<T extends EventType = EventType> = T extends EventType ? EventHead & { type: T; data: EventPayloads[T] } : never;
/** A user-defined event (rules' `event:`, flows): any type outside the agent's namespaces, free-form data. */
export type UserEventInput = EventHead & { type: string; data: Record<string, unknown> };

/**
 * What emitEvent takes for a type T: an agent type needs its payload; a literal in an agent
 * namespace that is not a known type (a typo like "device.falt") is refused by the compiler;
 * a plain string (from config) takes the user branch.
 */
export type NewEvent<T extends string = string> = T extends EventType
  ? AgentEventInput<T>
  : T extends `${AgentEventNamespace}.${string}` ? never : UserEventInput;

export function emitEvent<T extends string>(ctx: { bus: Bus; clock: Clock; newId(): string }, e: { type: T } & NewEvent<T>): WaysideEvent {
  const ev: WaysideEvent = { id: ctx.newId(), ...(e as unknown as Omit<WaysideEvent, 'id' | 'ts'>), ts: ctx.clock.now() };
  const flag = ctx.clock.flag();
  if (flag) ev.clock = flag;
  ctx.bus.emit('event', ev);
  return ev;
}

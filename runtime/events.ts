// Raising an event on the bus: a fresh sortable id, the wall-clock stamp and, while the clock
// is not trusted, its flag. Every producer of events goes through here.
import { newId } from './ids.ts';
import type { Bus, Clock, WaysideEvent } from './types.ts';

export type NewEvent = Omit<WaysideEvent, 'id' | 'ts' | 'clock'>;

export function emitEvent(ctx: { bus: Bus; clock: Clock }, e: NewEvent): WaysideEvent {
  const ev: WaysideEvent = { id: newId(), ...e, ts: ctx.clock.now() };
  const flag = ctx.clock.flag();
  if (flag) ev.clock = flag;
  ctx.bus.emit('event', ev);
  return ev;
}

// Typed errors of the outbox: callers branch on them (an append whose records were
// dropped before reaching disk is not a bug, it is the configured policy at work).

/** Why records left the outbox without being acknowledged. */
export type DropReason = 'full' | 'age' | 'memory' | 'closed';

/** An append() rejected because some of its records were dropped before they were durable. */
export class OutboxDroppedError extends Error {
  override readonly name = 'OutboxDroppedError';
  readonly reason: DropReason;
  /** Records of this append that were dropped (the others, if any, are durable). */
  readonly count: number;
  readonly path: string;
  constructor(reason: DropReason, count: number, path: string) {
    super(`outbox ${path}: ${count} record(s) dropped before reaching disk (reason ${reason})`);
    this.reason = reason;
    this.count = count;
    this.path = path;
  }
}

/** append() after close(). */
export class OutboxClosedError extends Error {
  override readonly name = 'OutboxClosedError';
  readonly path: string;
  constructor(path: string) {
    super(`outbox ${path} is closed`);
    this.path = path;
  }
}

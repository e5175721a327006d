// The outbox: the durable local store of what still has to go up (see docs/outbox.md).
export { openOutbox, GROUP_MAX_RECORDS, GROUP_MAX_BYTES } from './sqlite.ts';
export type { OutboxOptions, OutboxDeps, SqliteOutbox } from './sqlite.ts';
export { OutboxDroppedError, OutboxClosedError } from './errors.ts';
export type { DropReason } from './errors.ts';
export { applyPragmas, SCHEMA, SCHEMA_VERSION, OutboxSchemaError } from './schema.ts';

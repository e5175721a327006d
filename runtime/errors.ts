// Errors the framework's callers branch on. A `code` in lowercase snake_case reaches the
// platform as the command's error code (docs/protocol.md).

export type WriteErrorCode = 'unknown_device' | 'device_unavailable' | 'not_writable' | 'write_failed' | 'bad_request' | 'not_supported' | 'read_failed';

/** A refused device write (commands, flows). */
export class WriteError extends Error {
  readonly code: WriteErrorCode;
  constructor(code: WriteErrorCode, message: string) {
    super(message);
    this.name = 'WriteError';
    this.code = code;
  }
}

/** The agent could not start; `message` names the cause in one line (no stack trace for the user). */
export class AgentStartError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AgentStartError';
  }
}

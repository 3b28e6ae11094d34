/**
 * Every error stickylb raises has a stable `code`, the HTTP status a client sees for it, and the
 * underlying `cause`. Callers match on `code`, never on messages.
 */
export class StickyError extends Error {
  /** Stable machine-readable code, e.g. `UPSTREAM_CONNECT`. */
  readonly code: string;
  /** HTTP status this error maps to when it reaches a client. */
  readonly statusCode: number;

  constructor(code: string, message: string, statusCode: number, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'StickyError';
    this.code = code;
    this.statusCode = statusCode;
  }
}

/** The configuration is invalid; `problems` holds one `path: problem` line each. */
export class ConfigError extends StickyError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('CONFIG_INVALID', `invalid configuration:\n${problems.join('\n')}`, 500);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** The shared state store could not be written in time: the change was made nowhere. */
export class StoreUnavailableError extends StickyError {
  constructor(message: string, cause?: unknown) {
    super('STATE_STORE_UNAVAILABLE', message, 503, cause);
    this.name = 'StoreUnavailableError';
  }
}

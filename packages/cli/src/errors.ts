/**
 * Exit codes, one meaning each (documented in the README's CLI section):
 *   0  done (for --wait: every live agent applied it; for --watch: the cutover succeeded)
 *   1  the operation failed: the controller refused it, could not be reached, not every agent
 *      applied it in time, or a watched cutover ended other than succeeded
 *   2  usage: bad arguments or options, no token; nothing was sent
 */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** A mistake in how the CLI was called: exit code 2, like commander's own usage errors. */
export class UsageError extends Error {
  override name = "UsageError";
  readonly code = "usage";
}

/** A failure the operator should read (unreachable controller, incomplete apply): exit code 1. */
export class CliError extends Error {
  override name = "CliError";
  /** Machine-readable reason for `--json` error output. */
  readonly code: string;
  constructor(message: string, code = "failed") {
    super(message);
    this.code = code;
  }
}

/** The controller answered `{ error, message, field? }` with a non-2xx status. */
export class ApiError extends CliError {
  override name = "ApiError";
  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message, code);
  }
}

/** The exit code and the one-line (or JSON) message an error turns into. */
export function describeError(err: unknown): { exit: number; json: Record<string, unknown>; text: string } {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof ApiError) {
    const field = err.field ? ` (field: ${err.field})` : "";
    return { exit: EXIT.failed, json: { error: err.code, message, status: err.status, ...(err.field ? { field: err.field } : {}) }, text: `error: ${message}${field}` };
  }
  if (err instanceof UsageError) return { exit: EXIT.usage, json: { error: "usage", message }, text: `error: ${message}` };
  if (err instanceof CliError) return { exit: EXIT.failed, json: { error: err.code, message }, text: `error: ${message}` };
  // A bug in the CLI itself: still one line, never a stack trace (SWITCHYARD_DEBUG=1 shows it).
  return { exit: EXIT.failed, json: { error: "internal", message }, text: `error: ${message}` };
}

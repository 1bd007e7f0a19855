/** A mistake in how the CLI was called: exit code 2, like commander's own usage errors. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A failure the operator should read (unreachable controller, incomplete apply): exit code 1. */
export class CliError extends Error {
  override name = "CliError";
}

/** The controller answered `{ error, message, field? }` with a non-2xx status. */
export class ApiError extends CliError {
  override name = "ApiError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

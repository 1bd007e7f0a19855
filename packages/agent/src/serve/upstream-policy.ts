/**
 * How the edge treats its upstream connections, in one place: how long and how many idle ones it
 * keeps, when a connection may carry another request at all, what may be retried, and how long a
 * client that stopped reading may hold one. h1/upstream-pool.ts and h1/exchange.ts apply it.
 */

/**
 * Idle keep-alive connections close after 4 s: Node's http.Server (a common upstream) closes its
 * idle ones after 5 s, so an idle socket is never picked for a request just as the upstream closes it.
 */
export const IDLE_SOCKET_MS = 4000;

/**
 * Idle connections a target keeps when its pool sets no `keepalive` (direct addresses, pools that
 * say nothing), at the least: above it the cap follows the load (idleCap).
 */
export const DEFAULT_KEEPALIVE = 32;

/** How long a default pool remembers the most connections it had in use at once (idleCap). */
export const PEAK_WINDOW_MS = IDLE_SOCKET_MS;

/**
 * A client that stops reading a response may hold its upstream connection this long before both
 * are closed: nginx's `send_timeout` default.
 */
export const CLIENT_SEND_TIMEOUT_MS = 60_000;

/**
 * A released connection waits this many loop turns before it is handed out again, counted by a 1 ms
 * timer (h1/upstream-pool.ts): with two, the loop has polled the socket at least once after the
 * response ended, so bytes the upstream had already sent behind it are read (and retire the
 * connection) before a request can be written on it. Bytes the upstream sends later than that,
 * after the next request went out, still land in that request's response: nginx has the same
 * residual race. It is why no connection is reused after a response whose framing an upstream
 * commonly gets wrong (reusableAfter).
 */
export const COOLING_TURNS = 2;

/** Methods a request may be repeated with (RFC 9110 §9.2.2): the one retry on a reused connection. */
export const IDEMPOTENT: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

/**
 * Whether a connection may carry another request after this response. Never after a HEAD, 204 or
 * 304: their heads may announce a body (Content-Length, Transfer-Encoding) that the upstream then
 * sends anyway, later, where it would be read as another client's response (the audit's D1, which
 * undici avoids the same way). A response whose body ran until close was never reusable.
 */
export function reusableAfter(method: string, status: number, keepAlive: boolean): boolean {
  return keepAlive && status !== 204 && status !== 304 && method !== "HEAD";
}

/** How long a released connection may stay idle: IDLE_SOCKET_MS, or a second less than the upstream's `Keep-Alive: timeout`. */
export function idleMsFor(hintMs: number | undefined): number {
  return hintMs === undefined ? IDLE_SOCKET_MS : Math.min(IDLE_SOCKET_MS, hintMs - 1000);
}

/**
 * Idle connections to keep for a target: its pool's `keepalive` when the operator set one (nginx's
 * meaning: a cap on idle connections, never on concurrency), else DEFAULT_KEEPALIVE or the most
 * connections the target had in use at once lately (busy or cooling), whichever is more. A fixed
 * default cap below the load's concurrency closes the surplus after every burst and opens it again
 * in the next: 500-1100 new connections per 10k requests at 50-500 concurrent clients with the old
 * fixed cap of 32; about 0 at 50 and 20 at 500 with this one. The sweep enforces it (upstream-pool.ts).
 */
export function idleCap(keepalive: number | undefined, recentPeak: number): number {
  return keepalive ?? Math.max(DEFAULT_KEEPALIVE, recentPeak);
}

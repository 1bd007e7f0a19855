import type { Socket } from "node:net";
import { ResponseParser, type ResponseSink } from "./response-parser.js";

/**
 * One upstream connection of a pool (upstream-pool.ts): a socket, its response parser, and the
 * exchange that holds it, if any. Every socket event goes through listeners set once at connect to
 * whichever exchange holds the connection; nothing is added or removed per request. Any byte that
 * arrives while no exchange holds it retires it.
 */

/** What a connection needs from its pool. */
export interface ConnOwner {
  /** Longest upstream silence before an exchange is asked what to do (onInactive). */
  readonly timeoutMs: number;
  /** The connection is out of service: the pool stops counting and handing it out. */
  forget(conn: Conn): void;
}

/** What a connection needs from the request it carries. */
export interface Exchange extends ResponseSink {
  /** The connection failed under this exchange: error, close, inactivity or a refused response. */
  onConnFailure(err: Error, timedOut: boolean): void;
  /** The socket's write buffer drained. */
  onConnDrain(): void;
  /**
   * The connection saw no activity for a whole timeout period. "fail": the upstream's silence (a
   * 504); "wait": the exchange is waiting on its client, look again one period later; "done": the
   * exchange has given the connection up itself (its client is gone or would not read).
   */
  onInactive(connecting: boolean): "fail" | "wait" | "done";
  /** Every byte of one upstream read has been handed on (the exchange may hold writes until then). */
  afterRead?(): void;
}

/**
 * Every upstream socket reads into this one buffer (net's `onread`), skipping the Readable stream
 * machinery on the hottest path. Safe because reads are handled synchronously, one at a time, on
 * this thread; whatever outlives a read (body chunks handed to a client, a partial head or chunk
 * line) is copied out by the parser. `pause()`/`resume()` still stop and restart reading.
 */
export const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

export class UpstreamTimeout extends Error {}

export class Conn {
  readonly parser = new ResponseParser();
  exchange: Exchange | undefined;
  /** Taken from the idle list, so the upstream may have closed it just as the request went out. */
  reused = false;
  idleUntil = 0;
  /** The loop turn it was released in: it cools until COOLING_TURNS turns have passed. */
  releasedAt = 0;
  /** The idle cap its target asked for when it was released (undefined: follow the load). */
  keepalive: number | undefined = undefined;
  /** How long it may stay idle once it has cooled (upstream-policy.ts idleMsFor). */
  idleMs = 0;
  closed = false;

  constructor(
    private readonly pool: ConnOwner,
    readonly socket: Socket,
  ) {
    socket.on("end", this.onEnd);
    socket.on("error", this.onError);
    socket.on("close", this.onClose);
    socket.on("timeout", this.onTimeout);
    socket.on("drain", this.onDrain);
  }

  /**
   * Takes the connection out of service at once: out of the pool and marked closed now, not when
   * the socket's 'close' event comes a loop phase later, so nothing can acquire it in between.
   */
  close(): void {
    if (!this.closed) {
      this.closed = true;
      this.pool.forget(this);
    }
    this.socket.destroy();
  }

  /** The exchange gives the connection up mid-flight (its client left): it cannot carry another request. */
  abandon(): void {
    this.exchange = undefined;
    this.parser.sink = undefined;
    this.close();
  }

  private fail(err: Error, timedOut: boolean): void {
    const ex = this.exchange;
    this.exchange = undefined;
    this.parser.sink = undefined;
    this.close();
    ex?.onConnFailure(err, timedOut);
  }

  /**
   * `nread` bytes arrived in the shared READ_BUFFER; they are valid only until this returns. Always
   * returns true: backpressure goes through socket.pause(), which stops reading just the same.
   */
  onRead(nread: number): boolean {
    // Bytes nobody asked for (on a cooling or idle connection) would be read as the next request's response.
    if (this.exchange === undefined) {
      this.close();
      return true;
    }
    try {
      this.parser.execute(READ_BUFFER.subarray(0, nread));
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)), false);
      return true;
    }
    // The response ended (and the connection may already be back in the idle list) with more bytes
    // behind it: the connection can no longer be trusted.
    if (this.parser.trailing) this.close();
    this.exchange?.afterRead?.();
    return true;
  }

  private readonly onEnd = (): void => {
    if (this.exchange === undefined) {
      this.close();
      return;
    }
    try {
      this.parser.finish();
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)), false);
    }
  };

  private readonly onError = (err: Error): void => {
    this.fail(err, false);
  };

  private readonly onClose = (): void => {
    if (!this.closed) {
      this.closed = true;
      this.pool.forget(this);
    }
    if (this.exchange !== undefined) this.fail(new Error("upstream connection closed"), false);
  };

  private readonly onTimeout = (): void => {
    const ex = this.exchange;
    if (ex === undefined) {
      this.close();
      return;
    }
    const verdict = ex.onInactive(this.socket.connecting);
    if (verdict === "fail") this.fail(new UpstreamTimeout("upstream did not answer in time"), true);
    // Waiting on the client: the timer only re-arms on socket activity, which a stalled client may
    // never cause, so re-arm it here and look again one period later.
    else if (verdict === "wait") this.socket.setTimeout(this.pool.timeoutMs);
  };

  private readonly onDrain = (): void => {
    this.exchange?.onConnDrain();
  };
}

import { ApiError, CliError, UsageError } from "./errors.js";

export interface ClientOptions {
  url: string;
  token: string;
  /** Per-request deadline; a hung controller must not hang the operator's terminal. */
  timeoutMs?: number;
}

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  ECONNRESET: "connection reset",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "connection timed out",
  UND_ERR_SOCKET: "connection closed",
  UND_ERR_CONNECT_TIMEOUT: "connection timed out",
};

/** undici hides the socket error in `cause`; name it so the operator knows what to check. */
export function networkReason(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === "TimeoutError") return "no answer in time";
  const code = e?.cause?.code;
  if (code) return NETWORK_REASONS[code] ? `${NETWORK_REASONS[code]} (${code})` : code;
  return e?.cause?.message ?? e?.message ?? String(err);
}

export function checkedBaseUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`--url '${raw}' is not a URL such as http://127.0.0.1:7070`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new UsageError(`--url '${raw}' must be http:// or https://`);
  // Kept as a string prefix (not URL resolution) so a controller behind a path prefix keeps it.
  return raw.replace(/\/+$/, "");
}

export function checkedToken(raw: string | undefined): string {
  const token = raw?.trim();
  if (!token) throw new UsageError("no API token: pass --token or set SWITCHYARD_TOKEN");
  // fetch would reject such a header with a confusing TypeError that reads like a network failure.
  if (!/^[\x21-\x7e]+$/.test(token)) throw new UsageError("the API token contains spaces or control characters");
  return token;
}

/** The controller's REST API with bearer auth; every failure becomes an ApiError or CliError. */
export class Client {
  readonly base: string;
  readonly #token: string;
  readonly #timeoutMs: number;

  constructor(opts: ClientOptions) {
    this.base = checkedBaseUrl(opts.url);
    this.#token = checkedToken(opts.token);
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>("GET", path);
  }

  async request<T>(method: string, path: string, body?: unknown, opts: { timeoutMs?: number; headers?: Record<string, string> } = {}): Promise<T> {
    const signal = AbortSignal.timeout(opts.timeoutMs ?? this.#timeoutMs);
    const res = await this.#fetch(path, {
      method,
      signal,
      headers: { ...this.#headers("application/json"), ...(body === undefined ? {} : { "Content-Type": "application/json" }), ...opts.headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw new CliError(`lost the answer from the controller at ${this.base}: ${networkReason(err)}`);
    }
    const json = parseJson(text);
    if (!res.ok) throw apiError(res, json, this.base + path);
    if (json === undefined) throw new CliError(`the controller at ${this.base} answered ${method} ${path} with something that is not JSON`);
    return json as T;
  }

  /** Opens a Server-Sent Events stream; the caller owns `signal` for the stream's whole life. */
  async stream(path: string, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const res = await this.#fetch(path, { method: "GET", signal, headers: this.#headers("text/event-stream") });
    if (!res.ok) throw apiError(res, parseJson(await res.text().catch(() => "")), this.base + path);
    const type = res.headers.get("content-type") ?? "";
    if (!type.startsWith("text/event-stream") || !res.body) {
      await res.body?.cancel().catch(() => undefined);
      throw new CliError(`${this.base}${path} did not answer with an event stream (content-type '${type}')`);
    }
    return res.body;
  }

  #headers(accept: string): Record<string, string> {
    return { Authorization: `Bearer ${this.#token}`, Accept: accept };
  }

  async #fetch(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(this.base + path, init);
    } catch (err) {
      throw new CliError(`cannot reach the controller at ${this.base}: ${networkReason(err)}`, "unreachable");
    }
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function apiError(res: Response, json: unknown, url: string): ApiError {
  const body = json as { error?: unknown; message?: unknown; field?: unknown } | undefined;
  if (body && typeof body.message === "string") {
    return new ApiError(res.status, typeof body.error === "string" ? body.error : `http_${res.status}`, body.message, typeof body.field === "string" ? body.field : undefined);
  }
  // Not the controller's error shape: likely a proxy or the wrong URL, so say where it came from.
  return new ApiError(res.status, `http_${res.status}`, `${res.status} ${res.statusText} from ${url}`);
}

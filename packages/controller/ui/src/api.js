// The dashboard's only way to the controller: fetch with the token in the Authorization header.
// The token lives in sessionStorage (gone when the tab closes) and never in a URL: the event stream
// is read with fetch streaming, because EventSource cannot send headers.

const KEY = "switchyard.token";

export const savedToken = () => sessionStorage.getItem(KEY);
export const saveToken = (t) => sessionStorage.setItem(KEY, t);
export const forgetToken = () => sessionStorage.removeItem(KEY);

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error ?? "error";
  }
}

/** One JSON call; throws ApiError with the controller's {error, message} on a non-2xx answer. */
export async function api(token, method, path, body) {
  const headers = { authorization: `Bearer ${token}`, accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
  const text = await res.text();
  let parsed;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!res.ok) throw new ApiError(res.status, parsed);
  return parsed;
}

/**
 * Follows GET /v1/events until `signal` aborts, calling onEvent(name, data) per event and
 * onStatus(live) when the stream opens or drops; reconnects with a growing delay (max 5 s).
 */
export async function follow(token, signal, onEvent, onStatus) {
  let delay = 250;
  while (!signal.aborted) {
    try {
      const res = await fetch("/v1/events", { headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" }, signal, cache: "no-store" });
      if (!res.ok || !res.body) throw new ApiError(res.status);
      onStatus(true);
      delay = 250;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let end;
        while ((end = buf.indexOf("\n\n")) !== -1) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const name = /^event: (.+)$/m.exec(block)?.[1];
          const data = /^data: (.+)$/m.exec(block)?.[1];
          if (name && data) {
            try {
              onEvent(name, JSON.parse(data));
            } catch {
              // One bad event must not end the stream.
            }
          }
        }
      }
    } catch {
      // Aborted, or the controller went away: retried below unless aborted.
    }
    if (signal.aborted) return;
    onStatus(false);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 5000);
  }
}

// A stub of the controller's cutover API, written to the contract the CLI codes against. The SSE
// endpoint plays a scripted list of snapshots per cutover, so tests control exactly what arrives.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Cutover } from "../src/index.js";

export const TOKEN = "stub-token-0123456789abcdef";

/** What one SSE connection does: send these snapshots, then end, drop the socket, or go silent. */
export interface StreamScript {
  events: Cutover[];
  then: "end" | "drop" | "stall";
  /** Awaited before sending events[gateAt]: lets a test prove rendering happened live. */
  gate?: Promise<unknown>;
  gateAt?: number;
}

export interface Stub {
  server: Server;
  requests: { method: string; url: string; auth: string | undefined; body: unknown }[];
  cutovers: Map<string, Cutover>;
  /** Per cutover id, one script per successive connection to its event stream. */
  streams: Map<string, StreamScript[]>;
  /** Per cutover id, the snapshots successive GETs move through (the last one stays). */
  gets: Map<string, Cutover[]>;
  /** Forgets everything; ids start again at co-000000000100. */
  reset(): void;
}

export function snapshot(over: Partial<Cutover> = {}): Cutover {
  return {
    id: "co-000000000001",
    hosts: ["shop.example.com"],
    to: "green",
    from: { "shop.example.com": "blue" },
    strategy: { canary: { steps: [10, 100], interval: "30s" } },
    state: "scheduled",
    step: null,
    reason: null,
    createdAt: "2026-11-24T18:00:00.000Z",
    updatedAt: "2026-11-24T18:00:00.000Z",
    createdBy: "ops",
    at: null,
    steps: [],
    readings: [],
    preflight: null,
    ...over,
  };
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
};

async function readBody(req: IncomingMessage): Promise<unknown> {
  let raw = "";
  for await (const chunk of req) raw += chunk;
  return raw ? JSON.parse(raw) : undefined;
}

export function createStub(): Stub {
  let next = 100;
  const stub: Stub = {
    server: undefined as unknown as Server,
    requests: [],
    cutovers: new Map(),
    streams: new Map(),
    gets: new Map(),
    reset() {
      next = 100;
      stub.requests.length = 0;
      stub.cutovers.clear();
      stub.streams.clear();
      stub.gets.clear();
    },
  };
  stub.server = createServer(async (req, res) => {
    const body = await readBody(req);
    stub.requests.push({ method: req.method ?? "", url: req.url ?? "", auth: req.headers.authorization, body });
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return json(res, 401, { error: "unauthorized", message: "unknown token" });
    const url = new URL(req.url ?? "/", "http://stub");
    const m = /^\/v1\/cutovers(?:\/([^/]+)(?:\/(events|abort|promote))?)?$/.exec(url.pathname);
    if (!m) return json(res, 404, { error: "not_found", message: `no endpoint ${req.method} ${url.pathname}` });
    const [, id, action] = m;
    if (!id) {
      if (req.method === "GET") return json(res, 200, [...stub.cutovers.values()].reverse());
      const b = body as { host?: string; hosts?: string[] };
      if ((b.hosts ?? [b.host]).includes("busy.example.com")) {
        return json(res, 409, { error: "conflict", message: "host busy.example.com already has an active cutover (co-0000000000aa)", field: "host" });
      }
      const newId = `co-${String(next++).padStart(12, "0")}`;
      stub.cutovers.set(newId, snapshot({ id: newId, hosts: b.hosts ?? [b.host as string] }));
      return json(res, 202, { id: newId });
    }
    const scripted = req.method === "GET" && !action ? stub.gets.get(id)?.shift() : undefined;
    if (scripted) stub.cutovers.set(id, scripted);
    const c = stub.cutovers.get(id);
    if (!c) return json(res, 404, { error: "not_found", message: `cutover '${id}' does not exist` });
    if (!action) return json(res, 200, c);
    if (action === "events") return stream(stub, id, res);
    if (["succeeded", "rolled_back", "failed", "aborted"].includes(c.state)) return json(res, 409, { error: "conflict", message: `cutover ${id} already ${c.state}` });
    return json(res, 202, { id, state: c.state });
  });
  return stub;
}

async function stream(stub: Stub, id: string, res: ServerResponse): Promise<void> {
  const script = stub.streams.get(id)?.shift() ?? { events: [stub.cutovers.get(id) as Cutover], then: "end" as const };
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store" });
  res.write(": keepalive\n\n");
  for (const [i, ev] of script.events.entries()) {
    if (script.gate && i === script.gateAt) await script.gate;
    stub.cutovers.set(id, ev);
    const frame = `event: progress\r\ndata: ${JSON.stringify(ev)}\r\n\r\n`;
    // Split mid-frame (and mid-CRLF) so the client's parser must reassemble across chunks.
    const cut = frame.indexOf("\r\n") + 1;
    res.write(frame.slice(0, cut));
    res.write(frame.slice(cut));
    res.write(": keepalive\n\n");
  }
  if (script.then === "end") res.end();
  else if (script.then === "drop") res.destroy();
  // "stall": leave the connection open and silent; the client's idle timeout must notice.
}

export function stubEnv(url: string): Record<string, string> {
  return { SWITCHYARD_URL: url, SWITCHYARD_TOKEN: TOKEN };
}

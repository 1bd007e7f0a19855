import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer, request as httpRequest, type ClientRequest, type IncomingMessage, type Server } from "node:http";
import type { Socket } from "node:net";
import { afterEach, describe, test } from "node:test";
import { Servers, h1, listen, table, waitFor } from "./proxy-fixture.js";

/**
 * The h1 exchange's streaming claims, measured on real sockets: a slow client holds the upstream
 * back instead of growing a buffer in the proxy, and a request body moves upstream as it arrives
 * rather than after the client has finished sending it.
 */

const MiB = 1024 * 1024;
const TOTAL = 64 * MiB;
const CHUNK = 64 * 1024;

/**
 * The proxy's side of the latest client connection: what it holds for a slow client is that
 * socket's write buffer, whichever path (Node's server or the fast path) wrote the response.
 */
function watched(server: Server): { last: () => Socket | undefined } {
  let socket: Socket | undefined;
  server.on("connection", (s: Socket) => (socket = s));
  return { last: () => socket };
}

/** Resolves once `read()` has returned the same value on `polls` consecutive polls 50 ms apart. */
function stable(read: () => number, what: string, polls = 5): Promise<number> {
  let last = -1;
  let same = 0;
  return waitFor(
    () => {
      const v = read();
      if (v === last) same++;
      else {
        same = 0;
        last = v;
      }
      return same >= polls ? v + 1 : 0; // +1: a stall at 0 bytes is still a stall
    },
    { what, intervalMs: 50, timeoutMs: 20_000 },
  ).then((v) => v - 1);
}

function get(port: number, path = "/"): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const r = httpRequest({ host: "127.0.0.1", port, path, agent: false }, resolve);
    r.on("error", reject);
    r.end();
  });
}

function nextReadable(s: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      s.off("readable", done);
      s.off("end", done);
      s.off("close", done);
      resolve();
    };
    s.on("readable", done).on("end", done).on("close", done);
  });
}

describe("h1 streaming", () => {
  const makeEngine = (upstreamTimeoutMs = 60_000) => h1(upstreamTimeoutMs);
  const servers = new Servers();
  afterEach(() => servers.closeAll());

  /** An upstream answering every request with TOTAL bytes, writing only as fast as its socket drains. */
  async function bigUpstream() {
    const stats = { sent: 0 };
    const server = servers.track(
      createServer((_req, res) => {
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(TOTAL) });
        const chunk = Buffer.alloc(CHUNK, 0x61);
        const pump = () => {
          while (stats.sent < TOTAL) {
            stats.sent += chunk.length;
            if (!res.write(chunk)) {
              res.once("drain", pump);
              return;
            }
          }
          res.end();
        };
        pump();
      }),
    );
    const port = await listen(server);
    return { address: `127.0.0.1:${port}`, stats };
  }

  test("a client that stops reading stops the upstream: 64 MiB response, bounded proxy buffer", async () => {
    const up = await bigUpstream();
    const p = await servers.proxy(makeEngine(), table({ defaultUpstream: up.address, pools: {}, routes: {} }));
    const w = watched(p.server);
    const res = await get(p.port);
    assert.equal(res.statusCode, 200);
    res.pause();

    // The client reads nothing: the upstream must stall after a few socket buffers' worth.
    const sentWhileStalled = await stable(() => up.stats.sent, "upstream writes to stall behind a paused client");
    const buffered = w.last()?.writableLength ?? -1;
    assert.ok(sentWhileStalled < 24 * MiB, `upstream got ${(sentWhileStalled / MiB).toFixed(1)} MiB out with the client reading nothing`);
    assert.ok(buffered >= 0 && buffered <= 1 * MiB, `proxy holds ${buffered} bytes for a paused client`);

    // Now read slowly (a short pause every 512 KiB) and watch the proxy's buffer the whole way.
    let got = 0;
    let maxBuffered = 0;
    let maxInFlight = 0;
    let nextPause = 512 * 1024;
    for (let guard = 0; guard < 1_000_000 && got < TOTAL; guard++) {
      const c = res.read() as Buffer | null;
      if (c === null) {
        if (res.readableEnded || res.destroyed) break;
        await nextReadable(res);
        continue;
      }
      got += c.length;
      maxBuffered = Math.max(maxBuffered, w.last()?.writableLength ?? 0);
      maxInFlight = Math.max(maxInFlight, up.stats.sent - got);
      if (got >= nextPause) {
        nextPause += 512 * 1024;
        await new Promise((r) => setTimeout(r, 2));
      }
    }
    assert.equal(got, TOTAL);
    assert.ok(maxBuffered <= 1 * MiB, `proxy buffered up to ${maxBuffered} bytes for a slow client`);
    assert.ok(maxInFlight < 24 * MiB, `up to ${(maxInFlight / MiB).toFixed(1)} MiB sent by the upstream but not yet read by the client`);
  });

  test("a paused client does not time the upstream out: only upstream silence counts", async () => {
    // 500 ms: short against the paused wait below, long enough that a busy machine starving the
    // in-process upstream during the resumed transfer is not mistaken for upstream silence.
    const up = await bigUpstream();
    const p = await servers.proxy(makeEngine(500), table({ defaultUpstream: up.address, pools: {}, routes: {} }));
    const w = watched(p.server);
    const res = await get(p.port);
    res.pause();
    let closed = false;
    let aborted = false;
    w.last()?.once("close", () => (closed = true));
    res.once("aborted", () => (aborted = true));
    await stable(() => up.stats.sent, "upstream writes to stall");
    // A bounded wait for something that must not happen: eight upstream-timeout periods with nothing read.
    await assert.rejects(waitFor(() => closed, { timeoutMs: 4_000, what: "proxy response closed" }));
    let got = 0;
    res.on("data", (c: Buffer) => (got += c.length));
    res.resume();
    await waitFor(() => res.readableEnded || aborted, { what: "whole response", timeoutMs: 30_000 });
    assert.equal(aborted, false, `the response was cut after ${got} bytes`);
    assert.equal(got, TOTAL);
  });

  /** An upstream that counts request body bytes as they arrive and can hold off reading them. */
  async function countingUpstream() {
    const state = {
      received: 0,
      hold: false,
      headers: undefined as IncomingMessage["headers"] | undefined,
      req: undefined as IncomingMessage | undefined,
    };
    const server = servers.track(
      createServer((req, res) => {
        state.headers = req.headers;
        state.req = req;
        const hash = createHash("sha256");
        if (state.hold) req.pause();
        req.on("data", (c: Buffer) => {
          state.received += c.length;
          hash.update(c);
        });
        if (state.hold) req.pause();
        req.on("end", () => res.end(JSON.stringify({ received: state.received, sha256: hash.digest("hex") })));
      }),
    );
    const port = await listen(server);
    return { address: `127.0.0.1:${port}`, state };
  }

  function upload(port: number, headers: Record<string, string>): { req: ClientRequest; reply: Promise<{ status: number; body: string }> } {
    const req = httpRequest({ host: "127.0.0.1", port, method: "POST", path: "/upload", agent: false, headers });
    const reply = new Promise<{ status: number; body: string }>((resolve, reject) => {
      req.on("error", reject);
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      });
    });
    return { req, reply };
  }

  for (const framing of ["chunked", "content-length"] as const) {
    test(`a ${framing} request body reaches the upstream chunk by chunk, before the client has sent the rest`, async () => {
      const up = await countingUpstream();
      const p = await servers.proxy(makeEngine(), table({ defaultUpstream: up.address, pools: {}, routes: {} }));
      const parts = 16;
      const headers: Record<string, string> = framing === "chunked" ? {} : { "content-length": String(parts * CHUNK) };
      const { req, reply } = upload(p.port, headers);
      const hash = createHash("sha256");
      // Lock-step: the next chunk is only written once the upstream has the previous one, so a
      // proxy that waited for the whole body before forwarding would never get past the first.
      for (let i = 0; i < parts; i++) {
        const chunk = Buffer.alloc(CHUNK, i);
        hash.update(chunk);
        req.write(chunk);
        await waitFor(() => up.state.received === (i + 1) * CHUNK, { what: `chunk ${i + 1} at the upstream` });
      }
      req.end();
      const r = await reply;
      assert.equal(r.status, 200);
      assert.deepEqual(JSON.parse(r.body), { received: parts * CHUNK, sha256: hash.digest("hex") });
      if (framing === "chunked") {
        assert.equal(up.state.headers?.["transfer-encoding"], "chunked");
        assert.equal(up.state.headers?.["content-length"], undefined);
      } else {
        assert.equal(up.state.headers?.["content-length"], String(parts * CHUNK));
        assert.equal(up.state.headers?.["transfer-encoding"], undefined);
      }
    });
  }

  test("an upstream that stops reading stops the client's upload: 64 MiB body, bounded in the proxy", async () => {
    const up = await countingUpstream();
    up.state.hold = true;
    const p = await servers.proxy(makeEngine(), table({ defaultUpstream: up.address, pools: {}, routes: {} }));
    let clientSocket: Socket | undefined;
    p.server.once("connection", (s: Socket) => (clientSocket = s));
    const { req, reply } = upload(p.port, { "content-length": String(TOTAL) });
    const hash = createHash("sha256");
    let written = 0;
    let finished = false;
    const pump = () => {
      while (written < TOTAL) {
        const chunk = Buffer.alloc(CHUNK, written / CHUNK);
        hash.update(chunk);
        written += CHUNK;
        if (!req.write(chunk)) {
          req.once("drain", pump);
          return;
        }
      }
      req.end();
      finished = true;
    };
    pump();

    await waitFor(() => up.state.req, { what: "request at the upstream" });
    const proxyRead = await stable(() => clientSocket?.bytesRead ?? 0, "the proxy to stop reading the upload");
    assert.equal(finished, false, "the client could send the whole body to a stalled upstream");
    assert.ok(proxyRead < 24 * MiB, `the proxy read ${(proxyRead / MiB).toFixed(1)} MiB from the client while the upstream read nothing`);

    up.state.req?.resume();
    const r = await reply;
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), { received: TOTAL, sha256: hash.digest("hex") });
  });
});

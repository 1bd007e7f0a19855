import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { request } from "node:http";
import { createServer, type Server, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { MIN_LOG_CAP, StoreWriter, buildKeys } from "@switchyard/shared";
import { freePort, randomPrefix, startRedis, waitFor, type RedisHandle } from "@switchyard/testkit";
import { closeServer, errorBody, listen } from "./proxy-fixture.js";

/**
 * End to end through a real agent process (src/main.ts, the way it ships): an upstream response
 * the parser refuses becomes a 502 at once, on both front doors (a bodiless GET takes the fast path,
 * a POST with a body Node's server), instead of a 504 after the whole upstream timeout (D7) or a
 * body framed differently from how Node's client would read it (F1).
 */

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const UPSTREAM_TIMEOUT_MS = 60_000;
/** Far below the upstream timeout: the refusal must not wait for it, even on a busy machine. */
const FAST_MS = 10_000;

/** What the scripted upstream answers, by request path; it never closes the connection itself. */
const REPLIES: Record<string, string> = {
  "/bare-lf": "HTTP/1.1 200 OK\nContent-Length: 2\n\nhi",
  "/te-tab": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\t\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
  "/te-space-tab": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked \t\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
  "/te-gzip-tab": "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\t\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
  "/cl-tab": "HTTP/1.1 200 OK\r\nContent-Length: 3\t\r\n\r\nabc",
  "/ok": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
};

let redis: RedisHandle;
let client: Redis;
let upstream: Server;
const sockets = new Set<Socket>();
let agent: ChildProcess | undefined;
let output = "";
let port = 0;

before(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: null });
  upstream = createServer((s) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
    s.on("error", () => undefined);
    let buf = "";
    s.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const path = buf.slice(0, end).split(" ")[1] ?? "";
      buf = "";
      s.write(REPLIES[path] ?? REPLIES["/ok"] ?? "");
    });
  });
  const upstreamPort = await listen(upstream);
  const prefix = randomPrefix();
  await new StoreWriter(client, buildKeys(prefix), MIN_LOG_CAP).write([{ op: "route.put", host: "a.test", route: { upstream: `127.0.0.1:${upstreamPort}` } }], {
    actor: "t",
  });
  const admin = await freePort();
  port = await freePort();
  agent = spawn(process.execPath, ["--import", "tsx", "--conditions", "switchyard-source", "packages/agent/src/main.ts"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      PATH: process.env.PATH ?? "", REDIS_URL: redis.url, SWITCHYARD_PREFIX: prefix, AGENT_ID: "parser-1", AGENT_HOST: "127.0.0.1",
      AGENT_PORT: String(port), AGENT_ADMIN_PORT: String(admin), AGENT_UPSTREAM_TIMEOUT_MS: String(UPSTREAM_TIMEOUT_MS), LOG_LEVEL: "warn",
    },
  });
  agent.stdout?.setEncoding("utf8").on("data", (d: string) => (output += d));
  agent.stderr?.setEncoding("utf8").on("data", (d: string) => (output += d));
  await waitFor(async () => (await fetch(`http://127.0.0.1:${admin}/readyz`)).ok, { timeoutMs: 30_000, what: `agent ready; output: ${output}` });
});

after(async () => {
  if (agent && agent.exitCode === null && agent.signalCode === null) agent.kill("SIGKILL");
  for (const s of sockets) s.destroy();
  await closeServer(upstream);
  client.disconnect();
  await redis.stop();
});

/** One request on its own connection; rejects if no answer comes within FAST_MS. */
function timed(path: string, method: "GET" | "POST"): Promise<{ status: number; body: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const body = method === "POST" ? "payload" : undefined;
    const req = request(
      { host: "127.0.0.1", port, path, method, agent: false, headers: { host: "a.test", ...(body ? { "content-length": String(body.length) } : {}) } },
      (res) => {
        let text = "";
        res.setEncoding("latin1").on("data", (c: string) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text, ms: performance.now() - started }));
        res.on("error", reject);
      },
    );
    req.setTimeout(FAST_MS, () => req.destroy(new Error(`no answer to ${method} ${path} within ${FAST_MS} ms (upstream timeout ${UPSTREAM_TIMEOUT_MS} ms)`)));
    req.on("error", reject);
    req.end(body);
  });
}

describe("a real agent refuses an upstream response its parser refuses", () => {
  test("the scripted upstream's well-formed answer goes through, on both front doors", async () => {
    for (const method of ["GET", "POST"] as const) {
      const r = await timed("/ok", method);
      assert.equal(r.status, 200, output);
      assert.equal(r.body, "ok");
    }
  });

  for (const path of Object.keys(REPLIES).filter((p) => p !== "/ok")) {
    test(`${path}: 502 at once, not a 504 after the upstream timeout nor a body read another way`, async () => {
      for (const method of ["GET", "POST"] as const) {
        const r = await timed(path, method);
        assert.equal(r.status, 502, `${method} ${path}: ${r.status} ${r.body}`);
        assert.equal(errorBody(r.body).error, "bad_gateway");
        assert.ok(r.ms < FAST_MS, `${method} ${path} took ${r.ms.toFixed(0)} ms`);
      }
    });
  }
});

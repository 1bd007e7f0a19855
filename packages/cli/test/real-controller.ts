// The real controller app (in-process) on a private Redis, a fresh key prefix per test.
import { createServer } from "node:http";
import { after, before, beforeEach } from "node:test";
import { startRedis, type RedisHandle } from "@switchyard/testkit";
import { WRITE, makeFixture, readyRedis, type Fixture } from "../../controller/test/fixture.js";
import { close, listen } from "./helpers.js";

export interface RealController {
  /** The current test's fixture (store reader, Redis, keys). */
  readonly fx: Fixture;
  readonly url: string;
  env(token?: string): Record<string, string>;
  /** Runs `fn` when the file's tests are done (after the servers it may depend on close). */
  cleanup(fn: () => unknown): void;
}

/** Registers the hooks in the calling test file; read `fx` and `url` inside tests only. */
export function useRealController(): RealController {
  let redisServer: RedisHandle;
  let fx: Fixture;
  let url: string;
  const cleanups: (() => unknown)[] = [];
  before(async () => {
    redisServer = await startRedis();
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await redisServer.stop();
  });
  beforeEach(async () => {
    const f = makeFixture(redisServer);
    fx = f;
    await readyRedis(f.redis);
    const http = createServer(f.app);
    cleanups.push(() => close(http), () => f.close());
    url = await listen(http);
  });
  return {
    get fx() {
      return fx;
    },
    get url() {
      return url;
    },
    env: (token = WRITE) => ({ SWITCHYARD_URL: url, SWITCHYARD_TOKEN: token }),
    cleanup: (fn) => cleanups.push(fn),
  };
}

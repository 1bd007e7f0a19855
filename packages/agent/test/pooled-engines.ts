import { createH1Engine } from "../src/serve/engine-h1.js";
import { createHttpProxyEngine } from "../src/serve/engine-http-proxy.js";
import { createUndiciEngine } from "../src/serve/engine-undici.js";
import type { ForwardEngine } from "../src/serve/engine.js";

/**
 * The engines that keep their own upstream pools and hand upgrades and odd transfer codings to an
 * http-proxy fallback. The pooled-*.test.ts suites run every claim against each of them.
 */
export type MakePooled = (opts: { upstreamTimeoutMs: number; fallback?: ForwardEngine }) => ForwardEngine;

export const POOLED_ENGINES: readonly (readonly [string, MakePooled])[] = [
  ["h1", ({ upstreamTimeoutMs, fallback }) => createH1Engine({ upstreamTimeoutMs, fallback: fallback ?? createHttpProxyEngine({ upstreamTimeoutMs }) })],
  ["undici", ({ upstreamTimeoutMs, fallback }) => createUndiciEngine({ upstreamTimeoutMs, fallback: fallback ?? createHttpProxyEngine({ upstreamTimeoutMs }) })],
];

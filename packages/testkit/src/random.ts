import { randomInt } from "node:crypto";

/**
 * Seeded randomness for generated tests: the same seed gives the same sequence (mulberry32), so a
 * failure names its seed and `TEST_SEED=<seed>` replays it exactly.
 */
export interface Rng {
  readonly seed: number;
  /** [0, 1) */
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  /** True with probability p. */
  chance(p: number): boolean;
}

export function seededRandom(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  return {
    seed,
    next,
    int,
    pick: (items) => {
      if (items.length === 0) throw new Error("pick from an empty list");
      return items[int(0, items.length - 1)] as (typeof items)[number];
    },
    chance: (p) => next() < p,
  };
}

/** Deterministic [0, 1) source (mulberry32): distribution tests never flake, a fuzz failure names a reproducible case. */
export const seeded = (seed: number): (() => number) => seededRandom(seed).next;

/** The seed a generated test runs with: `TEST_SEED` from the environment to replay one, else a fresh one. */
export function testSeed(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.TEST_SEED;
  if (raw !== undefined && /^\d{1,10}$/.test(raw)) return Number(raw) >>> 0;
  return randomInt(2 ** 31);
}

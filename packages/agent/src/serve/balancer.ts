/**
 * Smooth weighted round-robin, as nginx does it: every pick adds each target's weight to its
 * running score, takes the highest score (first one on a tie) and subtracts the total weight from
 * it. Over any window of `total` picks each target is chosen exactly `weight` times, and heavy
 * targets are interleaved rather than bunched (5:1:1 gives a a b a c a a).
 */
export class SmoothWeightedRoundRobin<T> {
  private readonly items: readonly T[];
  private readonly weights: readonly number[];
  private readonly scores: number[];
  private readonly total: number;

  constructor(entries: readonly { item: T; weight: number }[]) {
    if (entries.length === 0) throw new Error("a balancer needs at least one target");
    this.items = entries.map((e) => e.item);
    this.weights = entries.map((e) => e.weight);
    this.scores = entries.map(() => 0);
    this.total = this.weights.reduce((a, b) => a + b, 0);
  }

  pick(): T {
    if (this.items.length === 1) return this.items[0] as T;
    let best = 0;
    let bestScore = -Infinity;
    for (let i = 0; i < this.items.length; i++) {
      const score = (this.scores[i] as number) + (this.weights[i] as number);
      this.scores[i] = score;
      if (score > bestScore) {
        best = i;
        bestScore = score;
      }
    }
    this.scores[best] = bestScore - this.total;
    return this.items[best] as T;
  }
}

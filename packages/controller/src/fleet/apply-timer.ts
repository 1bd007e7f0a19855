/**
 * Times write -> ack per agent for switchyard_controller_apply_seconds, on one clock: the
 * controller's own, when its ack subscriber hears a revision published on the changes channel and
 * when it hears each agent's ack. Redis delivers one connection's messages in publish order, and
 * a change is published before any agent can ack it, so the start is always seen first.
 *
 * An ack of revision R covers every revision up to R the agent had not acked yet (an agent that
 * catches up acks only the newest). An agent's first ack seen counts only for the revision it
 * names: earlier ones may predate the agent (a start-up snapshot). Memory is bounded: the newest
 * MAX_REVISIONS publications, and at most MAX_AGENTS agents (the map is cleared beyond that).
 */
const MAX_REVISIONS = 1000;
const MAX_AGENTS = 10_000;

export class ApplyTimer {
  private readonly published = new Map<number, number>();
  private readonly lastAck = new Map<string, number>();

  constructor(
    private readonly observe: (seconds: number) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  changed(revision: number): void {
    this.published.set(revision, this.now());
    if (this.published.size > MAX_REVISIONS) this.published.delete(this.published.keys().next().value as number);
  }

  acked(agent: string, revision: number): void {
    const prev = this.lastAck.get(agent);
    if (prev !== undefined && revision <= prev) return;
    if (this.lastAck.size >= MAX_AGENTS && prev === undefined) this.lastAck.clear();
    this.lastAck.set(agent, revision);
    const from = prev ?? revision - 1;
    const t = this.now();
    for (const [rev, at] of this.published) if (rev > from && rev <= revision) this.observe((t - at) / 1000);
  }
}

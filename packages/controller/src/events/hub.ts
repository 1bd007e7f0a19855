import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { AckMessage, ChangeMessage, type Keys } from "@switchyard/shared";
import type { CutoverRepo } from "../cutover/repo.js";
import { view } from "../cutover/spec.js";
import { listAgents } from "../fleet/agents.js";

/** What a client of `GET /v1/events` receives: one SSE `event:` name and its JSON data. */
export interface HubEvent {
  event: "revision" | "ack" | "agent-join" | "agent-leave" | "cutover";
  data: unknown;
}

/** One connected event-stream client. `send` answers false when the client fell too far behind. */
export interface HubClient {
  send(frame: string): boolean;
  drop(reason: string): void;
}

export interface HubOptions {
  /** How often live agents are listed to tell joins and leaves (only while a client is connected). */
  agentPollMs: number;
  /** How often an idle stream gets a `: keepalive` comment, so proxies and browsers keep it open. */
  heartbeatMs: number;
}

export const DEFAULT_HUB_OPTIONS: HubOptions = { agentPollMs: 1000, heartbeatMs: 15_000 };

/** The SSE wire form of one event (data is one line of JSON, so no line splitting is needed). */
export const frame = (e: HubEvent) => `event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;

/**
 * The controller's one event hub: a single subscriber connection (redis.ts `eventsSubscriberConnection`)
 * on the changes, acks and cutover-progress channels, fanned out to every `GET /v1/events` client.
 * Agent joins and leaves have no channel (an agent's record simply appears or expires), so while
 * anyone listens the hub lists live agents every `agentPollMs` and reports the difference.
 * Invariants: Redis traffic does not grow with the number of clients; a client that cannot keep
 * up is dropped (its own `send` says so) rather than buffering without bound.
 */
export class EventHub {
  private readonly clients = new Set<HubClient>();
  private known: Set<string> | null = null;
  private poller: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private polling = false;
  private closed = false;

  constructor(
    private readonly sub: Redis,
    private readonly cmd: Redis,
    private readonly keys: Keys,
    private readonly repo: CutoverRepo,
    private readonly log: Logger,
    private readonly opts: HubOptions = DEFAULT_HUB_OPTIONS,
  ) {
    this.sub.on("message", (ch: string, raw: string) => this.onMessage(ch, raw));
    // Subscribed on every `ready` (autoResubscribe is off for subscribers, see redis.ts).
    const subscribe = () => {
      this.sub.subscribe(keys.changes, keys.acks, keys.cutoverProgress).catch((err: Error) => this.log.warn({ err: err.message }, "events subscribe failed"));
    };
    this.sub.on("ready", subscribe);
    if (this.sub.status === "ready") subscribe();
  }

  get size(): number {
    return this.clients.size;
  }

  add(client: HubClient): () => void {
    this.clients.add(client);
    if (this.clients.size === 1) this.start();
    return () => this.remove(client);
  }

  private remove(client: HubClient): void {
    this.clients.delete(client);
    if (this.clients.size === 0) this.stop();
  }

  private start(): void {
    this.known = null;
    this.poller = setInterval(() => void this.pollAgents(), this.opts.agentPollMs);
    this.heartbeat = setInterval(() => this.write(": keepalive\n\n"), this.opts.heartbeatMs);
    void this.pollAgents();
  }

  private stop(): void {
    clearInterval(this.poller);
    clearInterval(this.heartbeat);
    this.known = null;
  }

  publish(e: HubEvent): void {
    this.write(frame(e));
  }

  private write(text: string): void {
    for (const c of [...this.clients]) {
      if (!c.send(text)) {
        this.remove(c);
        c.drop("client too slow: its buffer is full");
      }
    }
  }

  private onMessage(ch: string, raw: string): void {
    if (this.clients.size === 0 || this.closed) return;
    try {
      if (ch === this.keys.changes) {
        const m = ChangeMessage.parse(JSON.parse(raw));
        this.publish({ event: "revision", data: { revision: m.rev, at: new Date(m.at).toISOString(), actor: m.actor, ops: m.ops } });
      } else if (ch === this.keys.acks) {
        const m = AckMessage.parse(JSON.parse(raw));
        this.publish({ event: "ack", data: { agent: m.agent, revision: m.revision, appliedAt: new Date(m.appliedAt).toISOString() } });
      } else if (ch === this.keys.cutoverProgress && /^co-[0-9a-f]{12}$/.test(raw)) {
        void this.repo.get(raw).then(
          (rec) => rec && this.publish({ event: "cutover", data: view(rec) }),
          (err: Error) => this.log.warn({ err: err.message, cutover: raw }, "events: cutover read failed"),
        );
      }
    } catch {
      // Messages are hints; one that does not parse is not forwarded.
    }
  }

  /** Lists live agents and reports who joined and who left since the last listing. */
  private async pollAgents(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const live = await listAgents(this.cmd, this.keys);
      const ids = new Set(live.map((a) => a.id));
      const before = this.known;
      this.known = ids;
      // The first listing is the baseline: a client learns the fleet from GET /v1/agents.
      if (before === null || this.clients.size === 0) return;
      for (const a of live) if (!before.has(a.id)) this.publish({ event: "agent-join", data: { id: a.id, address: a.address, revision: a.revision, version: a.version } });
      for (const id of before) if (!ids.has(id)) this.publish({ event: "agent-leave", data: { id } });
    } catch {
      // Redis trouble: the next poll tries again; clients keep their stream.
    } finally {
      this.polling = false;
    }
  }

  /** Ends every stream and stops listening; the subscriber connection is main.ts's to close. */
  close(): void {
    this.closed = true;
    this.stop();
    for (const c of [...this.clients]) c.drop("controller shutting down");
    this.clients.clear();
    this.sub.removeAllListeners("message");
  }
}

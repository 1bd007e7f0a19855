import { Queue, Worker, type Job } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Keys } from "@switchyard/shared";

export const QUEUE = "cutovers";

export interface CutoverJob {
  id: string;
}

export interface QueueOptions {
  keys: Keys;
  /**
   * How long a worker's lock on a running cutover lasts without renewal (renewed every half). A
   * controller that dies mid-cutover is noticed and its job handed to another one after about
   * this long, and one stalled-check interval more.
   */
  lockMs: number;
}

// Finished jobs are kept for a day (at most 1000), failed ones for a week: the cutover records
// themselves are the history; the jobs only need to live long enough to debug a worker.
const RETENTION = { removeOnComplete: { age: 86_400, count: 1000 }, removeOnFail: { age: 7 * 86_400 } };

/**
 * The cutover queue on the connection main.ts made for it (redis.ts queueConnection: fails fast, so
 * an API call never hangs). Its keys live under the fleet's hash tag. BullMQ leaves a connection it
 * was handed open on close(): the owner closes it.
 */
export function createCutoverQueue(connection: Redis, opts: QueueOptions): Queue<CutoverJob> {
  return new Queue<CutoverJob>(QUEUE, { connection, prefix: opts.keys.bullPrefix });
}

export async function enqueueCutover(queue: Queue<CutoverJob>, id: string, delayMs: number): Promise<void> {
  await queue.add("cutover", { id }, {
    jobId: id,
    delay: Math.max(0, delayMs),
    // A run that throws (Redis trouble) is retried; the record makes the retry resume, not restart.
    attempts: 10,
    backoff: { type: "exponential", delay: 1000 },
    ...RETENTION,
  });
}

/** The cutover worker on redis.ts workerConnection; BullMQ duplicates it for its blocking fetch and closes that copy itself. */
export function createCutoverWorker(
  connection: Redis,
  opts: QueueOptions,
  process: (id: string) => Promise<unknown>,
  /** The job will not run again (retries used up): the record must not stay active holding its locks. */
  exhausted: (id: string, err: Error) => Promise<void>,
  log: Logger,
): { worker: Worker<CutoverJob>; close(): Promise<void> } {
  const worker = new Worker<CutoverJob>(QUEUE, (job: Job<CutoverJob>) => process(job.data.id), {
    connection,
    prefix: opts.keys.bullPrefix,
    concurrency: 32,
    lockDuration: opts.lockMs,
    stalledInterval: opts.lockMs,
    // A cutover whose worker died is resumed, not abandoned, up to this many times.
    maxStalledCount: 10,
  });
  worker.on("failed", (job, err) => {
    if (!job) return;
    const final = job.attemptsMade >= (job.opts.attempts ?? 1);
    log.error({ cutover: job.data.id, err: err.message, attempt: job.attemptsMade, final }, final ? "cutover run failed for the last time" : "cutover run failed; it will be retried");
    if (final) void exhausted(job.data.id, err).catch((e: Error) => log.error({ err: e.message }, "could not mark the cutover failed"));
  });
  worker.on("error", (err) => log.warn({ err: err.message }, "cutover worker error"));
  // close(true): do not wait for running cutovers; their locks lapse and another controller resumes them.
  return { worker, close: async () => void (await worker.close(true).catch(() => undefined)) };
}

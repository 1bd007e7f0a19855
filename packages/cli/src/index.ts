export { run, DEFAULT_URL, VERSION, type Io } from "./cli.js";
export { Client, checkedBaseUrl, checkedToken, networkReason } from "./client.js";
export { ApiError, CliError, EXIT, UsageError, describeError } from "./errors.js";
export { buildCutoverRequest, settled, type CutoverOptions } from "./commands/cutover.js";
export { bashScript, completionTree, zshScript } from "./commands/completion.js";
export {
  parseAt, parseCount, parseDuration, parseDurationMs, parseLimit, parsePath, parseRate, parseRevision, parseRule, parseSteps, parseTarget, parseUpstream, parseWaitTimeout,
} from "./parse.js";
export { ProgressRenderer, renderCutover, renderCutoverList } from "./progress.js";
export { describeUpstream, renderAgents, renderStatus, table } from "./render.js";
export { poolUsers, renderAudit, renderPools, renderRoutes } from "./render-config.js";
export { describeConverge, renderDiff, renderDryRun, renderRevision, renderRevisions } from "./render-diff.js";
export { readStateFile } from "./commands/config.js";
export { StreamIdle, StreamTooLarge, readSse, type SseEvent } from "./sse.js";
export { followCutover, type WatchOptions } from "./watch.js";
export type * from "./types.js";

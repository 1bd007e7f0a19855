export { loadConfig, ConfigError, type AgentConfig } from "./config.js";
export { SyncEngine, type SyncDeps, type SyncLink, type SyncStatus } from "./sync/sync.js";
export { RedisLink } from "./sync/link.js";
export { Proof } from "./sync/proof.js";
export { TableHolder } from "./serve/holder.js";
export { commandConnection, edgeConnections, subscriberConnection, type RedisTarget } from "./redis.js";
export { AGENT_NODE_FLAGS, missingNodeFlags } from "./node-flags.js";
export type { AdminStatus } from "./admin.js";

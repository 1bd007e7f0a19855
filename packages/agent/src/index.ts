export { loadConfig, ConfigError, type AgentConfig } from "./config.js";
export { SyncEngine } from "./sync/sync.js";
export { SyncRunner } from "./sync/runner.js";
export { AGENT_NODE_FLAGS, missingNodeFlags } from "./node-flags.js";

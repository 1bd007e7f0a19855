/** The agent's version, as its heartbeat record reports it (keep in step with package.json). */
export const VERSION = "0.1.0";

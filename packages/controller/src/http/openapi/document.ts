import { z } from "zod";
import { MAX_WAIT_MS } from "../write.js";
import { COMPONENTS } from "./schemas.js";

/**
 * The OpenAPI 3.1 document, generated from the zod schemas (schemas.ts) with zod 4's own
 * `z.toJSONSchema`: its output is JSON Schema 2020-12, which is OpenAPI 3.1's schema dialect, and
 * it is kept in step with zod by zod itself (a converter walking zod's internals lags every zod
 * release). The paths below name, per operation, the query parameters its route declares with
 * accepts(...): a test checks both against the live routes.
 */

type Component = keyof typeof COMPONENTS;
const ref = (name: Component) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: Component) => ({ "application/json": { schema: ref(name) } });

const QUERY: Record<string, { description: string; schema: object }> = {
  wait: { description: "`applied`: answer once every agent live at write time acked the new revision, or when timeout passes", schema: { type: "string", enum: ["applied"] } },
  timeout: { description: "with wait: milliseconds to wait (default 5000)", schema: { type: "integer", minimum: 1, maximum: MAX_WAIT_MS } },
  dryRun: { description: "`true`: run every check the write runs, answer the diff, write nothing", schema: { type: "string", enum: ["true", "false"] } },
  limit: { description: "how many, newest first (default 100)", schema: { type: "integer", minimum: 1, maximum: 1000 } },
  before: { description: "only revisions below this one (paging)", schema: { type: "integer", minimum: 1 } },
  prune: { description: "`false`: keep pools and routes the body does not name, and the default when the body has none (default true)", schema: { type: "string", enum: ["true", "false"] } },
  host: { description: "the host whose route is switched; without it the default upstream is switched", schema: { type: "string" } },
  upstream: { description: "a pool, an address, or a split written as blue=90,green=10", schema: { type: "string" } },
  create: { description: "`true`: create the route when the host has none (else 404 unknown_host)", schema: { type: "string", enum: ["true", "false"] } },
};
const WRITE = ["wait", "timeout", "dryRun"];

const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [String(s), { description: ERROR_TEXT[s] ?? "error", content: json("ApiError") }]));
const ERROR_TEXT: Record<number, string> = {
  400: "invalid, invalid_json or unknown_parameter", 401: "unauthorized", 403: "forbidden: a read token on a write", 404: "not_found or unknown_host",
  405: "method_not_allowed", 409: "conflict or history_trimmed", 412: "precondition_failed: If-Match differs", 413: "payload_too_large",
  415: "unsupported_media_type", 500: "corrupt_state or redis_error", 503: "redis_unavailable",
};
const READ_ERRORS = errors(400, 401, 404, 500, 503);
const WRITE_ERRORS = errors(400, 401, 403, 404, 409, 412, 413, 415, 500, 503);

interface OpSpec {
  summary: string;
  query?: string[];
  path?: Record<string, string>;
  body?: Component;
  ok: Record<string, unknown>;
  auth?: "read" | "write" | "none";
  ifMatch?: boolean;
}

const ok = (status: number, name: Component, description: string, dry = false) => ({
  [String(status)]: { description: dry ? `${description}; with dryRun=true, the DryRunAnswer` : description, content: dry ? { "application/json": { schema: { oneOf: [ref(name), ref("DryRunAnswer")] } } } : json(name) },
});
const write = (name: Component = "WriteAnswer", description = "written") => ok(200, name, description, true);

const OPERATIONS: Record<string, Record<string, OpSpec>> = {
  "/healthz": { get: { summary: "liveness", ok: ok(200, "Health", "alive"), auth: "none" } },
  "/readyz": { get: { summary: "ready: Redis answered a PING within 1 s", ok: { ...ok(200, "Health", "ready"), 503: { description: "not ready", content: json("ApiError") } }, auth: "none" } },
  "/v1/openapi.json": { get: { summary: "this document", ok: { 200: { description: "OpenAPI 3.1", content: { "application/json": { schema: { type: "object" } } } } }, auth: "none" } },
  "/metrics": { get: { summary: "Prometheus metrics", ok: { 200: { description: "text exposition format 0.0.4", content: { "text/plain": { schema: { type: "string" } } } } } } },
  "/v1/state": {
    get: { summary: "the whole state with its revision (ETag; honours If-None-Match)", ok: { ...ok(200, "StateView", "the state"), 304: { description: "not modified" } } },
    put: { summary: "make the state equal to the body, in one revision", query: ["prune", ...WRITE], body: "StateBody", ok: write("ConvergeAnswer", "written, or changed: false when the state already matched"), auth: "write", ifMatch: true },
  },
  "/v1/changes": { post: { summary: "apply ops as one revision, all or nothing", query: WRITE, body: "ChangesBody", ok: write(), auth: "write", ifMatch: true } },
  "/v1/pools/{name}": {
    get: { summary: "one pool", path: { name: "pool name" }, ok: ok(200, "PoolView", "the pool") },
    put: { summary: "create or replace a pool", path: { name: "pool name" }, query: WRITE, body: "Pool", ok: write(), auth: "write", ifMatch: true },
    delete: { summary: "delete a pool (409 while in use)", path: { name: "pool name" }, query: WRITE, ok: write(), auth: "write", ifMatch: true },
  },
  "/v1/pools/{name}/health": { get: { summary: "each live agent's view of the pool's targets (healthy, unhealthy, ejected, draining, slow_start)", path: { name: "pool name" }, ok: ok(200, "PoolHealth", "per agent, per target") } },
  "/v1/routes/{host}": {
    get: { summary: "one route", path: { host: "host" }, ok: ok(200, "RouteView", "the route") },
    put: { summary: "create or replace a route", path: { host: "host" }, query: WRITE, body: "Route", ok: write(), auth: "write", ifMatch: true },
    delete: { summary: "delete a route", path: { host: "host" }, query: WRITE, ok: write(), auth: "write", ifMatch: true },
  },
  "/v1/default": { put: { summary: "set or clear the default upstream", query: WRITE, body: "DefaultBody", ok: write(), auth: "write", ifMatch: true } },
  "/v1/audit": { get: { summary: "audit records, newest first", query: ["limit"], ok: { 200: { description: "records", content: { "application/json": { schema: { type: "array", items: ref("AuditEntry") } } } } } } },
  "/v1/revisions": { get: { summary: "revisions in the change log, newest first", query: ["limit", "before"], ok: { 200: { description: "revisions", content: { "application/json": { schema: { type: "array", items: ref("RevisionSummary") } } } } } } },
  "/v1/revisions/{rev}": { get: { summary: "one revision's ops (404 when not in the log)", path: { rev: "revision" }, ok: ok(200, "RevisionDetail", "the change") } },
  "/v1/rollback": { post: { summary: "one new revision whose state equals the state at `to` (409 history_trimmed when out of reach)", query: WRITE, body: "RollbackBody", ok: write("ConvergeAnswer", "rolled back, or changed: false"), auth: "write", ifMatch: true } },
  "/v1/whoami": { get: { summary: "the token's name and scope (a UI shows write controls to write tokens only)", ok: ok(200, "Whoami", "the caller") } },
  "/v1/events": {
    get: {
      summary:
        "Server-Sent Events for the whole fleet: `revision` (a committed change: revision, at, actor, ops), `ack` (agent, revision, appliedAt), " +
        "`agent-join` (id, address, revision, version), `agent-leave` (id), `cutover` (a CutoverView after each save); `: keepalive` comments " +
        "while idle. A client more than 256 KiB behind gets `event: bye` and is disconnected. Send the token in the Authorization header.",
      ok: { 200: { description: "event stream", content: { "text/event-stream": { schema: { type: "string" } } } } },
    },
  },
  ...Object.fromEntries(
    [["/ui/", "the dashboard page", "text/html"], ["/ui/index.html", "the dashboard page", "text/html"], ["/ui/app.js", "the dashboard script", "text/javascript"], ["/ui/style.css", "the dashboard style", "text/css"]].map(
      ([path, summary, type]) => [path, { get: { summary: `${summary} (static; 503 ui_not_built before pnpm build)`, ok: { 200: { description: summary, content: { [type as string]: { schema: { type: "string" } } } } }, auth: "none" } }],
    ),
  ) as Record<string, Record<string, OpSpec>>,
  "/v1/agents": { get: { summary: "live agents", ok: { 200: { description: "agents", content: { "application/json": { schema: { type: "array", items: ref("AgentView") } } } } } } },
  "/_switch_upstream": {
    post: {
      summary: "the OpenResty seed's switch, fleet-wide (text answer, or JSON when asked with Accept: application/json)",
      query: ["host", "upstream", "create", ...WRITE],
      ok: { 200: { description: "switched: `H change upstream from OLD to NEW` (text), SwitchAnswer (JSON) or DryRunAnswer", content: { "text/plain": { schema: { type: "string" } }, "application/json": { schema: { oneOf: [ref("SwitchAnswer"), ref("DryRunAnswer")] } } } } },
      auth: "write",
      ifMatch: true,
    },
  },
  "/v1/cutovers": {
    get: { summary: "cutovers, newest first", ok: { 200: { description: "cutovers", content: { "application/json": { schema: { type: "array", items: ref("CutoverView") } } } } } },
    post: { summary: "start a cutover", query: ["dryRun"], body: "CutoverRequest", ok: { ...ok(202, "CutoverAccepted", "queued"), ...ok(200, "DryRunAnswer", "dryRun=true: the plan and its checks") }, auth: "write" },
  },
  "/v1/cutovers/{id}": { get: { summary: "one cutover", path: { id: "cutover id" }, ok: ok(200, "CutoverView", "the cutover") } },
  "/v1/cutovers/{id}/events": { get: { summary: "Server-Sent Events (event: progress) until terminal", path: { id: "cutover id" }, ok: { 200: { description: "event stream", content: { "text/event-stream": { schema: { type: "string" } } } } } } },
  "/v1/cutovers/{id}/abort": { post: { summary: "stop and restore the original routes", path: { id: "cutover id" }, query: ["dryRun"], ok: { ...ok(202, "CutoverAccepted", "requested"), ...ok(200, "DryRunAnswer", "dryRun=true") }, auth: "write" } },
  "/v1/cutovers/{id}/promote": { post: { summary: "skip the remaining steps and the bake", path: { id: "cutover id" }, query: ["dryRun"], ok: { ...ok(202, "CutoverAccepted", "requested"), ...ok(200, "DryRunAnswer", "dryRun=true") }, auth: "write" } },
};

function operation(spec: OpSpec) {
  const parameters = [
    ...Object.entries(spec.path ?? {}).map(([name, description]) => ({ name, in: "path", required: true, description, schema: { type: "string" } })),
    ...(spec.query ?? []).map((name) => ({ name, in: "query", required: false, ...(QUERY[name] as object) })),
    ...(spec.ifMatch ? [{ name: "If-Match", in: "header", required: false, description: 'write only if the current revision is this one, such as "42" (else 412)', schema: { type: "string" } }] : []),
  ];
  const auth = spec.auth ?? "read";
  return {
    summary: spec.summary,
    ...(auth === "none" ? { security: [] } : { description: auth === "write" ? "needs a write token" : "needs a read or write token" }),
    ...(parameters.length ? { parameters } : {}),
    ...(spec.body ? { requestBody: { required: true, content: json(spec.body) } } : {}),
    responses: { ...spec.ok, ...(auth === "none" ? {} : auth === "write" ? WRITE_ERRORS : READ_ERRORS), default: { description: "any other error", content: json("ApiError") } },
  };
}

/** Builds the document once; every schema from zod, `$id`/`$schema` dropped (the document is their base). */
export function buildOpenApi(version: string): Record<string, unknown> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(COMPONENTS)) registry.add(schema as z.ZodType, { id });
  const { schemas } = z.toJSONSchema(registry, { io: "input", unrepresentable: "any", uri: (id) => `#/components/schemas/${id}` });
  for (const s of Object.values(schemas)) {
    delete (s as Record<string, unknown>).$id;
    delete (s as Record<string, unknown>).$schema;
  }
  const paths = Object.fromEntries(Object.entries(OPERATIONS).map(([path, ops]) => [path, Object.fromEntries(Object.entries(ops).map(([m, spec]) => [m, operation(spec)]))]));
  return {
    openapi: "3.1.0",
    info: { title: "Switchyard controller API", version, description: "Errors are JSON {error, message, field?}. Writes are one atomic revision each." },
    components: { schemas, securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    security: [{ bearer: [] }],
    paths,
  };
}

/** The query parameters the document gives each operation, for the test that compares them with the routes. */
export function documentedQuery(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [path, ops] of Object.entries(OPERATIONS)) for (const [m, spec] of Object.entries(ops)) out.set(`${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ":$1")}`, spec.query ?? []);
  return out;
}

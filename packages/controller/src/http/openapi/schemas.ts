import { z } from "zod";
import { DefaultBody, Op, Pool, Route, State, TARGET_STATES, Upstream } from "@switchyard/shared";
import { CutoverRequest } from "../../cutover/spec.js";
import { ChangesBody, StateBody } from "../state-api.js";
import { RollbackBody } from "../history-api.js";

/**
 * The API's shapes as zod schemas, for the OpenAPI document. Request bodies are the very schemas
 * the handlers parse with; answers are described here (the handlers build them as plain objects)
 * and the API tests check real answers against them. Registered with ids, they become
 * `components.schemas` (document.ts).
 */

const Revision = z.int().min(0).meta({ description: "a fleet revision" });
const Time = z.string().meta({ description: "ISO 8601 time", format: "date-time" });

export const ApiErrorBody = z.strictObject({
  error: z.string().meta({ description: "machine-readable code, such as invalid, unknown_parameter, unknown_host, history_trimmed" }),
  message: z.string(),
  field: z.string().optional().meta({ description: "the offending field or parameter, when one is to blame" }),
});

export const DiffEntry = z.strictObject({
  path: z.string().meta({ description: "JSON Pointer into the state: /defaultUpstream, /pools/<name>, /routes/<host>" }),
  before: z.unknown().meta({ description: "the entity before (null: absent)" }),
  after: z.unknown().meta({ description: "the entity after (null: absent)" }),
});

const Applied = z.strictObject({ id: z.string(), appliedAt: Time });
const waitFields = {
  complete: z.boolean().optional().meta({ description: "with ?wait=applied: every agent live at write time acked the revision" }),
  applied: z.array(Applied).optional(),
  missing: z.array(z.string()).optional(),
};

export const WriteAnswer = z.strictObject({ revision: Revision, ...waitFields });
export const SwitchAnswer = z.strictObject({ revision: Revision, diff: z.array(DiffEntry), ...waitFields });
export const ConvergeAnswer = z.strictObject({
  revision: Revision,
  changed: z.boolean().meta({ description: "false: the state already matched; nothing was written and revision is the current one" }),
  diff: z.array(DiffEntry),
  prune: z.boolean().optional(),
  rolledBackTo: Revision.optional(),
  ...waitFields,
});
export const DryRunAnswer = z.object({
  dryRun: z.literal(true),
  revision: Revision.meta({ description: "the current revision the checks ran against" }),
  diff: z.array(DiffEntry),
  plan: z.unknown().optional().meta({ description: "cutovers: the hosts, strategy and the routes each step writes" }),
}).meta({ description: "nothing was written" });

export const StateView = State.safeExtend({ revision: Revision });
export const PoolView = Pool.safeExtend({ name: z.string() });
export const RouteView = Route.safeExtend({ host: z.string() });

export const AuditEntry = z.strictObject({
  revision: Revision, at: Time, actor: z.string(), action: z.string(), target: z.string(), before: z.unknown(), after: z.unknown(),
  note: z.string().optional().meta({ description: "why the revision was written, such as `rollback to 12`" }),
});

export const AgentView = z.strictObject({
  id: z.string(), revision: Revision, lag: z.int().min(0), appliedAt: Time.nullable(), lastSeen: Time.nullable(), startedAt: Time.nullable(),
  version: z.string(), address: z.string(), workers: z.array(z.object({ pid: z.int(), revision: Revision })).optional(),
});

export const PoolHealth = z.array(z.strictObject({
  agent: z.string(),
  panic: z.boolean().meta({ description: "every target is out on this agent, which routes to all of them" }),
  targets: z.array(z.strictObject({
    address: z.string(), state: z.enum(TARGET_STATES), since: Time.nullable().meta({ description: "when the target entered this state" }),
    lastError: z.string().nullable().meta({ description: "the last failure this agent saw on the target (a probe or a request)" }),
  })),
}));

export const RevisionSummary = z.strictObject({ revision: Revision, at: Time, actor: z.string(), summary: z.string(), note: z.string().optional() });
export const RevisionDetail = RevisionSummary.safeExtend({
  ops: z.array(Op),
  before: z.array(z.unknown()).optional().meta({ description: "for each op, the value its key had just before it (null: absent)" }),
});

const Step = z.object({ index: z.int(), weight: z.int(), revision: Revision.nullable(), writtenAt: Time.nullable(), acks: z.array(Applied), stragglers: z.array(z.string()) });
export const CutoverView = z.object({
  id: z.string(), hosts: z.array(z.string()), to: Upstream, from: z.record(z.string(), Upstream.nullable()),
  state: z.enum(["scheduled", "preflight", "switching", "waiting_acks", "baking", "succeeded", "rolled_back", "failed", "aborted"]),
  step: z.object({ index: z.int(), total: z.int(), weight: z.int() }).nullable(), reason: z.string().nullable(),
  createdAt: Time, updatedAt: Time, createdBy: z.string(), at: Time.nullable(), steps: z.array(Step), restore: Step.nullable(),
  readings: z.array(z.object({ at: Time, requests: z.number(), errors: z.number(), errorRate: z.number() })), preflight: z.unknown(),
});
export const CutoverAccepted = z.strictObject({ id: z.string(), state: z.string().optional() });

export const Health = z.strictObject({ status: z.string() });

/** Every named schema, as it appears under components.schemas. */
export const Whoami = z.strictObject({
  name: z.string().meta({ description: "the token's name (SWITCHYARD_TOKENS)" }),
  scope: z.enum(["read", "write"]).meta({ description: "read: GET only; write: every endpoint" }),
});

export const COMPONENTS = {
  Upstream, Pool, Route, Op, DefaultBody, ChangesBody, StateBody, RollbackBody, CutoverRequest,
  ApiError: ApiErrorBody, DiffEntry, WriteAnswer, SwitchAnswer, ConvergeAnswer, DryRunAnswer, StateView, PoolView, RouteView,
  AuditEntry, AgentView, PoolHealth, RevisionSummary, RevisionDetail, CutoverView, CutoverAccepted, Health, Whoami,
} as const;

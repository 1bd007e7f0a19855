import type { z } from "zod";

/** A validation failure in the shape the API returns: the first problem names its field, all are listed. */
export class ValidationError extends Error {
  readonly field: string | undefined;
  readonly problems: { field: string; message: string }[];
  constructor(problems: { field: string; message: string }[]) {
    const first = problems[0];
    super(first ? (first.field ? `${first.field}: ${first.message}` : first.message) : "invalid");
    this.name = "ValidationError";
    this.field = first?.field || undefined;
    this.problems = problems;
  }
}

type Problem = { field: string; message: string };

/**
 * A union (string upstream or split object) reports one issue per branch. The branch whose root
 * type matched the input is the one the user meant, so its issues are reported with their fields.
 */
function unionBranch(branches: z.core.$ZodIssue[][]): z.core.$ZodIssue[] | undefined {
  const meant = branches.filter((b) => !b.some((i) => i.code === "invalid_type" && i.path.length === 0));
  return meant.length === 1 ? meant[0] : undefined;
}

function collect(issues: z.core.$ZodIssue[], base: string[], out: Problem[]): void {
  for (const issue of issues) {
    const parts = [...base, ...issue.path.map(String)];
    const path = parts.join(".");
    const branch = issue.code === "invalid_union" ? unionBranch(issue.errors) : undefined;
    if (branch) {
      collect(branch, parts, out);
    } else if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        out.push({ field: path ? `${path}.${key}` : key, message: "unknown field" });
      }
    } else {
      out.push({ field: path, message: issue.message });
    }
  }
}

export function zodProblems(err: z.ZodError, base = ""): Problem[] {
  const out: Problem[] = [];
  collect(err.issues, base ? [base] : [], out);
  return out;
}

const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/**
 * zod silently drops a `__proto__` key from records; Switchyard rejects it instead, so a body
 * that names one is refused rather than half-applied.
 */
export function forbiddenKey(value: unknown, path: string[] = []): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  for (const key of Object.keys(value)) {
    if (FORBIDDEN_KEYS.has(key)) return [...path, key].join(".");
    const inner = forbiddenKey((value as Record<string, unknown>)[key], [...path, key]);
    if (inner) return inner;
  }
  return undefined;
}

/** Parses with a schema and throws a ValidationError naming the field, never a raw ZodError. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, base = ""): z.output<S> {
  const bad = forbiddenKey(value, base ? [base] : []);
  if (bad) throw new ValidationError([{ field: bad, message: "forbidden key" }]);
  const r = schema.safeParse(value);
  if (!r.success) throw new ValidationError(zodProblems(r.error, base));
  return r.data;
}

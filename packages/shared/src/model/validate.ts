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

// Recursive, but over zod's issues, whose nesting follows the schema (a union inside a route), never the input.
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

/**
 * The deepest document a schema accepts is 5 levels (a route's rules[i].upstream.split); 16 leaves
 * room and keeps every walk of user input bounded.
 */
export const MAX_DEPTH = 16;

/**
 * Checks a body before any schema sees it: no `__proto__` key anywhere (zod would drop it
 * silently, and a plain object would take it as its prototype), and no nesting deeper than
 * MAX_DEPTH. Iterative, so 30,000 nested brackets (under the 64 KiB body limit) cannot overflow
 * the stack. Returns the first problem with its field, or undefined.
 */
export function bodyProblem(value: unknown, base: string[] = []): Problem | undefined {
  const stack: { value: unknown; path: string[] }[] = [{ value, path: base }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const { value: v, path } = item;
    if (typeof v !== "object" || v === null) continue;
    if (path.length - base.length >= MAX_DEPTH) {
      return { field: path.join("."), message: `nesting deeper than ${MAX_DEPTH} levels` };
    }
    const keys = Object.keys(v);
    if (keys.includes("__proto__") && !Array.isArray(v)) return { field: [...path, "__proto__"].join("."), message: "'__proto__' is a forbidden key" };
    // Pushed in reverse, so the walk visits keys in document order and names the first problem.
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i] as string;
      stack.push({ value: (v as Record<string, unknown>)[key], path: [...path, key] });
    }
  }
  return undefined;
}

/** Parses with a schema and throws a ValidationError naming the field, never a raw ZodError. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, base = ""): z.output<S> {
  const bad = bodyProblem(value, base ? [base] : []);
  if (bad) throw new ValidationError([bad]);
  const r = schema.safeParse(value);
  if (!r.success) throw new ValidationError(zodProblems(r.error, base));
  return r.data;
}

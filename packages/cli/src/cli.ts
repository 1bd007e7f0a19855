import { createRequire } from "node:module";
import { Command, CommanderError, Option } from "commander";
import { Client } from "./client.js";
import { registerAudit } from "./commands/audit.js";
import { registerCompletion } from "./commands/completion.js";
import { registerConfig } from "./commands/config.js";
import { registerCutover } from "./commands/cutover.js";
import { registerFleet } from "./commands/fleet.js";
import type { Act, Ctx } from "./context.js";
import { describeError, EXIT } from "./errors.js";
import type { WatchOptions } from "./watch.js";

export const DEFAULT_URL = "http://127.0.0.1:7070";

/** The package's own version (package.json sits one level above both src/ and dist/). */
export const VERSION: string = (createRequire(import.meta.url)("../package.json") as { version: string }).version;

export interface Io {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env: Record<string, string | undefined>;
  /** Tunes `--watch` reconnects; tests shorten the delays. */
  watch?: WatchOptions;
  /** Poll interval of `abort`/`promote` while they wait; tests shorten it. */
  pollMs?: number;
}

interface GlobalOpts {
  url?: string;
  token?: string;
  json?: boolean;
}

/** `--json` decides how errors print, including commander's own, which come before any action runs. */
const wantsJson = (argv: string[]) => argv.slice(0, argv.includes("--") ? argv.indexOf("--") : undefined).includes("--json");

function buildProgram(io: Io, json: boolean, setCode: (code: number) => void): Command {
  const program = new Command("switchyard");
  // Before any .command(): subcommands inherit output routing and the no-process.exit behaviour.
  program
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => write(json ? JSON.stringify({ error: "usage", message: s.replace(/^error: /, "").trim() }) + "\n" : s),
    })
    .exitOverride()
    .showHelpAfterError(json ? false : "(run with --help for usage)")
    .description("Operate a Switchyard fleet: switch upstreams, edit pools and routes, run cutovers, inspect agents and the audit log.")
    .version(VERSION, "-V, --version", "print the CLI's version")
    .addOption(new Option("--url <url>", `controller URL (env SWITCHYARD_URL, default ${DEFAULT_URL})`))
    .addOption(new Option("--token <token>", "API token (env SWITCHYARD_TOKEN)"))
    .option("--json", "print the API's JSON instead of tables, and errors as JSON on stderr");

  // Resolved per action, and the client only when a command uses it, so `--help`, `completion`
  // and usage errors never need a token.
  const ctx = (command: Command): Ctx => {
    const g = command.optsWithGlobals<GlobalOpts>();
    let client: Client | undefined;
    return {
      get client() {
        return (client ??= new Client({ url: g.url ?? io.env.SWITCHYARD_URL ?? DEFAULT_URL, token: g.token ?? io.env.SWITCHYARD_TOKEN ?? "" }));
      },
      json: g.json === true,
      out: (s) => io.stdout.write(s),
      err: (s) => io.stderr.write(s),
      ...(io.watch ? { watch: io.watch } : {}),
      ...(io.pollMs ? { pollMs: io.pollMs } : {}),
    };
  };
  const act: Act = (fn) =>
    async function (this: Command, ...args) {
      setCode(await fn(ctx(this), ...args));
    };

  // One file per area.
  registerFleet(program, act);
  registerConfig(program, act);
  registerAudit(program, act);
  registerCutover(program, act);
  registerCompletion(program, act);
  return program;
}

/** The whole CLI without process globals: returns the exit code (see EXIT in errors.ts). */
export async function run(argv: string[], io: Io): Promise<number> {
  let code: number = EXIT.ok;
  const json = wantsJson(argv);
  const program = buildProgram(io, json, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv, { from: "user" });
    return code;
  } catch (err) {
    // Commander already printed its message (help and --version end here too, with code 0).
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    const { exit, json: doc, text } = describeError(err);
    io.stderr.write(json ? JSON.stringify(doc) + "\n" : text + "\n");
    if (io.env.SWITCHYARD_DEBUG === "1" && err instanceof Error && err.stack) io.stderr.write(err.stack + "\n");
    return exit;
  }
}

import { Command, CommanderError, Option } from "commander";
import { Client } from "./client.js";
import * as cmd from "./commands.js";
import { ApiError, UsageError } from "./errors.js";
import { parseAt, parseCount, parseDuration, parsePath, parseRate, parseSteps, parseUpstream, parseWaitTimeout } from "./parse.js";
import type { WatchOptions } from "./watch.js";

export const DEFAULT_URL = "http://127.0.0.1:7070";

export interface Io {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env: Record<string, string | undefined>;
  /** Tunes `--watch` reconnects; tests shorten the delays. */
  watch?: WatchOptions;
}

interface GlobalOpts {
  url?: string;
  token?: string;
  json?: boolean;
}

function buildProgram(io: Io, setCode: (code: number) => void): Command {
  const program = new Command("switchyard");
  // Before any .command(): subcommands inherit output routing and the no-process.exit behaviour.
  program
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .exitOverride()
    .showHelpAfterError("(run with --help for usage)")
    .description("Operate a Switchyard fleet: switch upstreams, run cutovers, inspect agents.")
    .addOption(new Option("--url <url>", `controller URL (env SWITCHYARD_URL, default ${DEFAULT_URL})`))
    .addOption(new Option("--token <token>", "API token (env SWITCHYARD_TOKEN)"))
    .option("--json", "print the API's JSON instead of tables");

  // Resolved per action so `--help` and usage errors never need a token.
  const ctx = (command: Command): cmd.Ctx => {
    const g = command.optsWithGlobals<GlobalOpts>();
    const client = new Client({ url: g.url ?? io.env.SWITCHYARD_URL ?? DEFAULT_URL, token: g.token ?? io.env.SWITCHYARD_TOKEN ?? "" });
    return { client, json: g.json === true, out: (s) => io.stdout.write(s), err: (s) => io.stderr.write(s), ...(io.watch ? { watch: io.watch } : {}) };
  };
  const act = <A extends unknown[]>(fn: (c: cmd.Ctx, ...args: A) => Promise<number>) =>
    async function (this: Command, ...args: A) {
      setCode(await fn(ctx(this), ...args));
    };

  program.command("status").description("revision, default upstream, pools, routes and live agents").action(act((c) => cmd.status(c)));

  program.command("agents").description("live agents with their applied revision and lag").action(act((c) => cmd.agents(c)));

  program
    .command("switch")
    .description("point HOST at UPSTREAM: a pool, an address (10.0.0.1:8080, unix:/run/app.sock) or a split (blue=90,green=10)")
    .argument("<host>", "route host, such as demo.local or *.example.com")
    .argument("<upstream>", "pool, address or pool=weight,... split", parseUpstream)
    .option("--wait", "wait until every live agent applied the change; exit 1 if some did not")
    .option("--timeout <ms>", "how long --wait waits, in ms (default 5000)", parseWaitTimeout)
    .action(act((c, host: string, upstream: ReturnType<typeof parseUpstream>, o: { wait?: boolean; timeout?: number }) => cmd.switchRoute(c, host, upstream, o)));

  program
    .command("cutover")
    .description("move one or more hosts to a new upstream, instantly or in canary steps, with health checks and automatic rollback")
    .argument("<hosts...>", "route hosts to move together")
    .requiredOption("--to <upstream>", "upstream to move to", parseUpstream)
    .option("--from <upstream>", "refuse unless every host is on this upstream now", parseUpstream)
    .option("--canary <steps>", "percentages of traffic per step, ending at 100, such as 5,25,50,100", parseSteps)
    .option("--interval <duration>", "watch time between canary steps (default 30s)", parseDuration)
    .option("--bake <duration>", "watch time after the last step (controller default 30s)", parseDuration)
    .option("--ack-timeout <duration>", "how long each step waits for agent acks (controller default 5s)", parseDuration)
    .option("--no-preflight", "skip probing the new targets from the edges first")
    .option("--probe-path <path>", "path the preflight probes (controller default /)", parsePath)
    .option("--probe-timeout <duration>", "timeout of each preflight probe", parseDuration)
    .option("--max-error-rate <rate>", "roll back above this error rate, such as 0.05 or 5% (controller default 0.05)", parseRate)
    .option("--min-requests <n>", "requests needed before the error rate counts (controller default 20)", parseCount)
    .option("--at <time>", "start at this ISO time with a zone, such as 2026-11-24T18:00:00Z", parseAt)
    .option("--watch", "follow progress live; exit 0 on succeeded, 1 otherwise")
    .action(act((c, hosts: string[], o: cmd.CutoverOptions) => cmd.startCutover(c, hosts, o)));

  program.command("cutovers").description("list cutovers, newest first").action(act((c) => cmd.listCutovers(c)));

  program
    .command("cutover-status")
    .description("one cutover in detail; --watch follows it")
    .argument("<id>")
    .option("--watch", "follow progress live; exit 0 on succeeded, 1 otherwise")
    .action(act((c, id: string, o: { watch?: boolean }) => (o.watch ? cmd.watchCutover(c, id) : cmd.cutoverStatus(c, id))));

  program
    .command("abort")
    .description("stop a cutover and restore the original routes")
    .argument("<id>")
    .action(act((c, id: string) => cmd.control(c, id, "abort")));

  program
    .command("promote")
    .description("skip the remaining canary steps and the bake: go to 100% now")
    .argument("<id>")
    .action(act((c, id: string) => cmd.control(c, id, "promote")));

  return program;
}

/** The whole CLI without process globals: returns the exit code. */
export async function run(argv: string[], io: Io): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv, { from: "user" });
    return code;
  } catch (err) {
    // Commander already printed its message; only the exit code is ours (2: usage, like most CLIs).
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    const message = err instanceof Error ? err.message : String(err);
    const field = err instanceof ApiError && err.field ? ` (field: ${err.field})` : "";
    io.stderr.write(`error: ${message}${field}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

// `switchyard completion bash|zsh`: completion scripts generated from the command tree itself, so
// a new command or option completes without anyone editing a script.
import { Argument, type Command } from "commander";
import { printJson, type Act, type Ctx } from "../context.js";

interface Node {
  /** Command path below the program, such as "pool set"; "" for the program. */
  path: string;
  commands: string[];
  options: string[];
  /** Options that take a value: the word after them is not a command. */
  valued: string[];
}

function walk(cmd: Command, path: string, inherited: Command["options"], out: Node[]): Node[] {
  const options = path === "" ? cmd.options : [...inherited, ...cmd.options];
  // Long flags are offered; short ones are still skipped over as values when they take one.
  const flags = options.map((o) => o.long).filter((f): f is string => !!f);
  const valued = options.filter((o) => o.required || o.optional).flatMap((o) => [o.long, o.short]).filter((f): f is string => !!f);
  out.push({ path, commands: cmd.commands.map((c) => c.name()), options: [...new Set([...flags, "--help"])], valued });
  for (const sub of cmd.commands) walk(sub, path ? `${path} ${sub.name()}` : sub.name(), inherited, out);
  return out;
}

/** The tree as data: one node per command path; subcommands carry the global options but `--version`. */
export function completionTree(program: Command): Node[] {
  return walk(program, "", program.options.filter((o) => o.long !== "--version"), []);
}

const q = (words: string[]) => words.join(" ");

export function bashScript(program: Command): string {
  const nodes = completionTree(program);
  const cases = nodes.map((n) => `    "${n.path}") words="${q([...n.commands, ...n.options])}" ;;`).join("\n");
  const valued = [...new Set(nodes.flatMap((n) => n.valued))];
  return `# bash completion for switchyard. Load it with:  source <(switchyard completion bash)
# or install it:  switchyard completion bash > ~/.local/share/bash-completion/completions/switchyard
_switchyard() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" words="" i w
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in
      ${valued.join("|") || "--"}) ((i++)) ;;
      -*) ;;
      *) if _switchyard_is_command "\${path:+$path }$w"; then path="\${path:+$path }$w"; fi ;;
    esac
  done
  case "\${COMP_WORDS[COMP_CWORD-1]}" in
    ${valued.join("|") || "--"}) COMPREPLY=(); return 0 ;;
  esac
  case "$path" in
${cases}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
_switchyard_is_command() {
  case "$1" in
    ${nodes.filter((n) => n.path).map((n) => `"${n.path}"`).join("|")}) return 0 ;;
  esac
  return 1
}
complete -F _switchyard switchyard
`;
}

export function zshScript(program: Command): string {
  const nodes = completionTree(program);
  const describe = (cmd: Command) =>
    cmd.commands.map((c) => `'${c.name()}:${c.description().replace(/'/g, "'\\''").replace(/:/g, "\\:").split(/[.;(]/)[0]?.trim()}'`).join(" ");
  const find = (path: string): Command => path.split(" ").filter(Boolean).reduce((c, name) => c.commands.find((x) => x.name() === name) as Command, program);
  const cases = nodes
    .map((n) => `    "${n.path}")\n      cmds=(${describe(find(n.path))})\n      opts=(${q(n.options)}) ;;`)
    .join("\n");
  const valued = [...new Set(nodes.flatMap((n) => n.valued))];
  return `#compdef switchyard
# zsh completion for switchyard. Load it with:  source <(switchyard completion zsh)
# or install it as _switchyard in a directory on $fpath (before compinit runs).
_switchyard() {
  local path_="" w i
  local -a cmds opts
  for ((i = 2; i < CURRENT; i++)); do
    w="\${words[i]}"
    case "$w" in
      ${valued.join("|") || "--"}) ((i++)) ;;
      -*) ;;
      *) path_="\${path_:+$path_ }$w" ;;
    esac
  done
  case "\${words[CURRENT-1]}" in
    ${valued.join("|") || "--"}) return 0 ;;
  esac
  case "$path_" in
${cases}
    *) return 0 ;;
  esac
  if [[ "\${words[CURRENT]}" == -* ]]; then
    compadd -- $opts
  else
    _describe -t commands 'switchyard command' cmds
  fi
}
# Autoloaded from $fpath the file is _switchyard's body: complete now; sourced, register it.
if [ "\$funcstack[1]" = "_switchyard" ]; then _switchyard "$@"; else compdef _switchyard switchyard; fi
`;
}

export function registerCompletion(program: Command, act: Act): void {
  program
    .command("completion")
    .description("print a shell completion script: source <(switchyard completion bash)")
    .addArgument(new Argument("<shell>", "bash or zsh").choices(["bash", "zsh"]))
    .action(act(async (c: Ctx, shell: "bash" | "zsh") => {
      if (c.json) printJson(c, completionTree(program));
      else c.out(shell === "bash" ? bashScript(program) : zshScript(program));
      return 0;
    }));
}

import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { run, type Io } from "../src/index.js";

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process, capturing both streams; `onOut` sees stdout as it is written. */
export async function cli(argv: string[], env: Record<string, string | undefined>, extra: Partial<Io> & { onOut?: (chunk: string) => void } = {}): Promise<Result> {
  let stdout = "";
  let stderr = "";
  const { onOut, ...rest } = extra;
  const code = await run(argv, {
    stdout: { write: (s: string) => { stdout += s; onOut?.(s); return true; } },
    stderr: { write: (s: string) => { stderr += s; return true; } },
    env,
    ...rest,
  });
  return { code, stdout, stderr };
}

export async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** fetch keeps connections alive; drop them so close() does not wait for their idle timeout. */
export function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

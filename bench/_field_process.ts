/** Child processes of bench/field.ts (peers' servers and agents): started, logged, stopped. */

/** Bytes of a child's output kept for error messages. */
export const OUTPUT_KEPT_BYTES_MAX = 64 * 1024;

export class Daemon {
  #output = "";
  readonly #child: Deno.ChildProcess;
  readonly #drained: Promise<unknown>;

  constructor(readonly name: string, command: string, args: string[], cwd?: string) {
    this.#child = new Deno.Command(command, {
      args,
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const decoder = new TextDecoder();
    const keep = (stream: ReadableStream<Uint8Array>) =>
      stream.pipeTo(
        new WritableStream({
          write: (chunk) => {
            this.#output = (this.#output + decoder.decode(chunk)).slice(-OUTPUT_KEPT_BYTES_MAX);
          },
        }),
      ).catch(() => undefined);
    this.#drained = Promise.all([keep(this.#child.stdout), keep(this.#child.stderr)]);
  }

  get pid(): number {
    return this.#child.pid;
  }

  output(): string {
    return this.#output;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  async stop(graceMs = 3_000): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch { /* already exited */ }
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* already exited */ }
    }, graceMs);
    await this.#child.status;
    clearTimeout(timer);
    await this.#drained;
  }
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`. */
export async function listening(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch (error) {
      if (performance.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** The first line of `command args`' output (a version string), or null when it cannot run. */
export async function versionOf(command: string, args: string[]): Promise<string | null> {
  try {
    const out = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" })
      .output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return text.trim().split("\n")[0] ?? null;
  } catch {
    return null;
  }
}

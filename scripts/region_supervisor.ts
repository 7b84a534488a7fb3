/**
 * Keeps one region process of `deno task mesh` running: starts it, prefixes its output with its
 * id, and when it exits reports that in one line and starts it again after a backoff that
 * doubles from RESTART_DELAY_MS_MIN up to RESTART_DELAY_MS_MAX (and starts over once a run lasted
 * RESTART_RESET_MS).
 */

/** The first wait before restarting a region that exited, in milliseconds. */
export const RESTART_DELAY_MS_MIN = 250;
/** The longest wait between restarts of a region that keeps exiting, in milliseconds. */
export const RESTART_DELAY_MS_MAX = 30_000;
/** A run at least this long counts as healthy: the next restart waits the minimum again. */
export const RESTART_RESET_MS = 60_000;
if (RESTART_DELAY_MS_MIN > RESTART_DELAY_MS_MAX || RESTART_DELAY_MS_MAX > RESTART_RESET_MS) {
  throw new Error("restart delays must satisfy MIN <= MAX <= RESET");
}

/** The wait before restart number `attempt` (1 = the first restart after a healthy run). */
export function restartDelayMs(attempt: number): number {
  const doublings = Math.min(Math.max(attempt - 1, 0), 30);
  return Math.min(RESTART_DELAY_MS_MIN * 2 ** doublings, RESTART_DELAY_MS_MAX);
}

export interface SupervisedRegion {
  readonly id: string;
  /** Resolves once the region is stopped for good (after `stop()`). */
  readonly done: Promise<void>;
  /** Stops the region (SIGTERM) and stops restarting it. */
  stop(): Promise<void>;
}

/** Starts `command` for region `id` and restarts it whenever it exits until `stop()`. */
export function superviseRegion(
  id: string,
  command: () => Deno.Command,
  log: (line: string) => void = console.log,
): SupervisedRegion {
  let stopping = false;
  let child: Deno.ChildProcess | undefined;
  let wake: (() => void) | undefined;
  const run = async () => {
    for (let attempt = 1; !stopping; attempt++) {
      const started = Date.now();
      child = command().spawn();
      log(`[${id}] started (pid ${child.pid})`);
      const piped = [child.stdout, child.stderr].map((stream) => prefixLines(stream, id, log));
      const status = await child.status;
      await Promise.all(piped);
      if (stopping) break;
      if (Date.now() - started >= RESTART_RESET_MS) attempt = 1;
      const delay = restartDelayMs(attempt);
      const how = status.signal === null ? `code ${status.code}` : `signal ${status.signal}`;
      log(`[${id}] exited with ${how}; restarting in ${delay} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        wake = () => (clearTimeout(timer), resolve());
      });
      wake = undefined;
    }
  };
  const done = run();
  return {
    id,
    done,
    async stop() {
      stopping = true;
      wake?.();
      try {
        child?.kill("SIGTERM");
      } catch { /* already exited */ }
      await done;
    },
  };
}

function prefixLines(
  stream: ReadableStream<Uint8Array>,
  id: string,
  log: (line: string) => void,
): Promise<void> {
  let partial = "";
  return stream.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({
      write(chunk) {
        const lines = (partial + chunk).split("\n");
        partial = lines.pop()!;
        for (const line of lines) if (line.trim() !== "") log(`[${id}] ${line}`);
      },
      close() {
        if (partial.trim() !== "") log(`[${id}] ${partial}`);
      },
    }),
  ).catch(() => undefined);
}

/**
 * How `UpstashStore` talks to redis: script calls by SHA, resent with EVAL when redis lost the
 * script (NOSCRIPT); requests as pipelines that keep each command's error; and every failure of
 * the client as StoreUnavailableError with a bounded message.
 */
import type { Redis } from "@upstash/redis";
import { ERROR_MESSAGE_CHARS_MAX } from "./_upstash_options.ts";
import { StoreUnavailableError } from "./region_store.ts";

/** One command's answer in a pipeline run with `keepErrors`. */
export interface Reply {
  readonly error?: string;
  readonly result?: unknown;
}

export class UpstashRunner {
  readonly #redis: Redis;
  /** SHA-1 of each script, by script text. */
  readonly #shas = new Map<string, Promise<string>>();

  constructor(redis: Redis) {
    this.#redis = redis;
  }

  sha(script: string): Promise<string> {
    let sha = this.#shas.get(script);
    if (sha === undefined) this.#shas.set(script, sha = sha1Hex(script));
    return sha;
  }

  /** Sends one request with a command per item, as `add` puts it in the pipeline. */
  async exec<T>(
    items: readonly T[],
    add: (pipeline: ReturnType<Redis["pipeline"]>, item: T) => void,
  ): Promise<Reply[]> {
    const pipeline = this.#redis.pipeline();
    for (const item of items) add(pipeline, item);
    return await pipeline.exec({ keepErrors: true });
  }

  /** Runs one script call in one request (by SHA; resent with EVAL when redis lost it). */
  async script(what: string, script: string, keys: string[], args: string[]): Promise<unknown> {
    const sha = await this.sha(script);
    const reply = await this.guard(what, async () => {
      const [first] = await this.exec([0], (p) => p.evalsha(sha, keys, args));
      if (!isNoScript(first.error)) return first;
      const [second] = await this.exec([0], (p) => p.eval(script, keys, args));
      return second;
    });
    if (reply.error) {
      throw new StoreUnavailableError(`Cannot ${what} as Upstash rejected it: ${reply.error}`);
    }
    return reply.result;
  }

  /** Runs `work`, turning a failure of the client into StoreUnavailableError. */
  async guard<T>(what: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      // The client appends the whole command (every delta body) to its HTTP error messages.
      const message = String((error as Error)?.message ?? error);
      const short = message.length > ERROR_MESSAGE_CHARS_MAX
        ? `${message.slice(0, ERROR_MESSAGE_CHARS_MAX)}…`
        : message;
      throw new StoreUnavailableError(`Cannot ${what} as Upstash failed: ${short}`, {
        cause: error,
      });
    }
  }
}

export function isNoScript(error: string | undefined): boolean {
  return error !== undefined && error.includes("NOSCRIPT");
}

async function sha1Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

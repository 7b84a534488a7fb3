/**
 * Where an agent keeps the last `seq` it signed in each channel. Signing two different bodies
 * with one (channel, seq) is equivocation, and regions answer it by quarantining the key in every
 * region for good (docs/protocol.md §8.1), so a seq is claimed — recorded durably — before the
 * delta carrying it is signed, and never handed out twice.
 *
 * `FileSeqLedger` keeps the claims in a state file beside the key file and takes an OS lock on the
 * key file around each claim, so any number of processes (and `Agent` objects) on one machine can
 * share a key. A key used on two machines at once is exactly the equivocation case: nothing local
 * can see the other machine's claims.
 */
import { z } from "zod";
import { INTEGER_MAX } from "../protocol/limits.ts";

/** The largest seq-state file read, in bytes (about 200,000 channels): anything larger is not ours. */
export const SEQ_STATE_BYTES_MAX = 16 * 1024 * 1024;

export interface SeqLedger {
  /**
   * Claims the next seq of `channel`: one above both the last seq claimed here and `floor` (a
   * seq known to be used elsewhere, e.g. the region's highest stored seq of this author). The
   * claim is durable when the promise resolves; a claimed seq is never returned again.
   */
  claim(channel: string, floor?: number): Promise<number>;
}

/** Claims kept in memory: for a process that owns its key for the key's whole life (tests). */
export class MemorySeqLedger implements SeqLedger {
  readonly #last = new Map<string, number>();

  claim(channel: string, floor = 0): Promise<number> {
    return Promise.resolve(this.claimSync(channel, floor));
  }

  /** The synchronous form of `claim()`. */
  claimSync(channel: string, floor = 0): number {
    const seq = nextSeq(this.#last.get(channel) ?? 0, floor);
    this.#last.set(channel, seq);
    return seq;
  }
}

const stateSchema = z.strictObject({
  v: z.literal(1),
  author: z.string().length(43),
  lastSeq: z.record(z.string(), z.number().int().min(1).max(INTEGER_MAX)),
});
type SeqState = z.infer<typeof stateSchema>;

/** The seq-state file that belongs to a key file: `agent.key.json` → `agent.key.seq.json`. */
export function seqStatePath(keyPath: string): string {
  return keyPath.endsWith(".json") ? `${keyPath.slice(0, -5)}.seq.json` : `${keyPath}.seq.json`;
}

/**
 * Claims in a JSON file `{"v":1,"author","lastSeq":{channel: seq}}`, written to a temporary file,
 * fsynced and renamed into place while an exclusive lock is held on the key file (which is never
 * rewritten, so every process locks the same inode).
 */
export class FileSeqLedger implements SeqLedger {
  readonly keyPath: string;
  readonly statePath: string;
  readonly author: string;

  /** `author` is the key's agent id; a state file written for another key is refused. */
  constructor(keyPath: string, author: string, statePath = seqStatePath(keyPath)) {
    this.keyPath = keyPath;
    this.statePath = statePath;
    this.author = author;
  }

  /** Claims under an exclusive lock on the key file, so processes sharing the key take turns. */
  async claim(channel: string, floor = 0): Promise<number> {
    const lock = await Deno.open(this.keyPath, { read: true });
    try {
      await lock.lock(true);
      const state = await this.#read();
      const seq = nextSeq(state.lastSeq[channel] ?? 0, floor);
      await this.#write({ ...state, lastSeq: { ...state.lastSeq, [channel]: seq } });
      return seq;
    } finally {
      lock.close(); // closing the descriptor releases the lock
    }
  }

  /** The last seq claimed in `channel` (0: none), as recorded in the state file. */
  async last(channel: string): Promise<number> {
    return (await this.#read()).lastSeq[channel] ?? 0;
  }

  async #read(): Promise<SeqState> {
    let text: string;
    try {
      if ((await Deno.stat(this.statePath)).size > SEQ_STATE_BYTES_MAX) {
        throw new TypeError(this.#unreadable(`is larger than ${SEQ_STATE_BYTES_MAX} bytes`));
      }
      text = await Deno.readTextFile(this.statePath);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return { v: 1, author: this.author, lastSeq: {} };
      throw error;
    }
    let parsed;
    try {
      parsed = stateSchema.safeParse(JSON.parse(text));
    } catch {
      throw new TypeError(this.#unreadable("is not JSON"));
    }
    if (!parsed.success) throw new TypeError(this.#unreadable("is not a v1 seq-state file"));
    if (parsed.data.author !== this.author) {
      throw new TypeError(
        `Cannot sign as the seq state ${this.statePath} belongs to agent ${parsed.data.author}, ` +
          `not ${this.author}: give each key file its own state file`,
      );
    }
    return parsed.data;
  }

  #unreadable(why: string): string {
    return `Cannot sign as the seq state ${this.statePath} ${why}. Move it aside only if no ` +
      `delta this key signed is unsent: the next push then numbers from the region's highest seq`;
  }

  async #write(state: SeqState): Promise<void> {
    const temporary = `${this.statePath}.tmp`;
    const file = await Deno.open(temporary, { write: true, create: true, truncate: true });
    try {
      await file.write(new TextEncoder().encode(JSON.stringify(state) + "\n"));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(temporary, this.statePath);
    await syncDirectory(this.statePath);
  }
}

/** Makes a rename durable by fsyncing the directory that holds `path` (where the OS allows). */
async function syncDirectory(path: string): Promise<void> {
  const slash = path.lastIndexOf("/");
  const directory = slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
  let handle: Deno.FsFile | undefined;
  try {
    handle = await Deno.open(directory, { read: true });
    await handle.sync();
  } catch {
    // Windows cannot open a directory; its rename is durable once the file itself is synced.
  } finally {
    handle?.close();
  }
}

function nextSeq(last: number, floor: number): number {
  const seq = Math.max(last, floor) + 1;
  if (!Number.isSafeInteger(seq) || seq < 1) {
    throw new RangeError(`Cannot claim a seq above ${Math.max(last, floor)}`);
  }
  return seq;
}

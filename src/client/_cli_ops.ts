/** The agent CLI's op words (`set k v inc n 3 ...`) turned into delta ops. */
import { ChannelState } from "../crdt/channel_state.ts";
import { deltaId, type Op, type OpValue } from "../protocol/delta.ts";
import { INTEGER_MAX } from "../protocol/limits.ts";
import { utf8Encode } from "../protocol/utf8.ts";
import type { MeshClient } from "./mesh_client.ts";

/** A mistake in the command line: the message says what, the CLI adds the command's usage. */
export class UsageError extends Error {}

/** Turns CLI words into ops; `rmv` needs the channel state to name the live tags. */
export async function parseOps(
  words: string[],
  channel: string,
  client: MeshClient,
): Promise<Op[]> {
  const ops: Op[] = [];
  let state: ChannelState | undefined;
  for (let i = 0; i < words.length;) {
    const [op, a, b] = words.slice(i);
    const need = (n: number) => {
      if (words.length < i + 1 + n) throw new UsageError(`${op} needs ${n} argument(s)`);
      i += 1 + n;
    };
    switch (op) {
      case "set":
        need(2);
        ops.push({ op: "set", key: a, value: jsonOrWord(b) });
        break;
      case "del":
        need(1);
        ops.push({ op: "del", key: a });
        break;
      case "add":
        need(2);
        ops.push({ op: "add", set: a, elem: b });
        break;
      case "inc":
        need(2);
        ops.push({ op: "inc", counter: a, by: integer(b) });
        break;
      case "rmv": {
        need(2);
        state ??= await replica(client, channel);
        const tags = state.liveTags(a, b);
        if (tags.length === 0) throw new UsageError(`${b} is not in set ${a} of ${channel}`);
        ops.push({ op: "rmv", set: a, elem: b, tags });
        break;
      }
      default:
        throw new UsageError(`unknown op ${JSON.stringify(op)} (set, del, add, rmv, inc)`);
    }
  }
  if (ops.length === 0) throw new UsageError("push needs at least one op after the channel");
  return ops;
}

/**
 * The word as JSON, or as a string when it is not JSON — unless it looks like JSON (starts with
 * `{`, `[` or `"`) and does not parse: a typo must not be signed for good as a string.
 */
export function jsonOrWord(word: string): OpValue {
  try {
    return JSON.parse(word);
  } catch (error) {
    if (/^\s*[{["]/.test(word)) {
      throw new UsageError(
        `${JSON.stringify(word.slice(0, 60))} looks like JSON but is not: ` +
          `${(error as Error).message} (quote a plain string as '"..."')`,
      );
    }
    return word; // not JSON: take the word as a string
  }
}

function integer(word: string): number {
  if (!/^-?[0-9]+$/.test(word)) throw new UsageError(`inc needs an integer, got ${word}`);
  const n = Number(word);
  if (Math.abs(n) > INTEGER_MAX) {
    throw new UsageError(`inc takes at most ${INTEGER_MAX} either way, got ${word}`);
  }
  return n;
}

/** A local replica of the channel, folded from its deltas (to find the tags a remove names). */
async function replica(client: MeshClient, channel: string): Promise<ChannelState> {
  const state = new ChannelState(channel);
  for await (const { body } of client.tailAll(channel)) {
    state.apply({ ...JSON.parse(body), id: deltaId(utf8Encode(body)) });
  }
  return state;
}

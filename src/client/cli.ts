/**
 * `deno task agent <command>`: the agent CLI.
 *
 *   keygen [--key FILE]                       create a key file (default ./agent.key.json)
 *   push <channel> <op> <args...> [...]       sign and push one delta; ops:
 *        set <key> <json>  del <key>  add <set> <elem>  rmv <set> <elem>  inc <counter> <n>
 *   get <channel>                             print the channel's view
 *   tail <channel> [--after CURSOR] [--follow] print deltas as JSON lines
 *
 * Options: --url URL (default $MESH_URL or http://127.0.0.1:8000), --key FILE ($MESH_AGENT_KEY).
 */
import { ChannelState } from "../crdt/channel_state.ts";
import type { Op, OpValue } from "../protocol/delta.ts";
import { deltaId } from "../protocol/delta.ts";
import { utf8Encode } from "../protocol/utf8.ts";
import { Agent } from "./agent.ts";
import { AgentKey } from "./agent_key.ts";
import { MeshClient } from "./mesh_client.ts";

/** Pause between polls of `tail --follow`, in milliseconds. */
export const TAIL_FOLLOW_POLL_MS = 1_000;

interface Flags {
  url: string;
  key: string;
  after: string;
  follow: boolean;
  rest: string[];
}

function parseFlags(args: string[], env: Record<string, string | undefined>): Flags {
  const flags: Flags = {
    url: env.MESH_URL ?? "http://127.0.0.1:8000",
    key: env.MESH_AGENT_KEY ?? "./agent.key.json",
    after: "0",
    follow: false,
    rest: [],
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--url" || arg === "--key" || arg === "--after") {
      const value = args[++i];
      if (value === undefined) throw new UsageError(`${arg} needs a value`);
      flags[arg.slice(2) as "url" | "key" | "after"] = value;
    } else if (arg === "--follow") flags.follow = true;
    else flags.rest.push(arg);
  }
  return flags;
}

class UsageError extends Error {}

/** Turns CLI words into ops; `rmv` needs the channel state to name the live tags. */
async function parseOps(words: string[], channel: string, client: MeshClient): Promise<Op[]> {
  const ops: Op[] = [];
  let state: ChannelState | undefined;
  for (let i = 0; i < words.length;) {
    const [op, a, b] = words.slice(i);
    const need = (n: number) => {
      if (words.length < i + 1 + n) throw new UsageError(`${op} needs ${n} argument(s)`);
      i += 1 + n;
    };
    switch (op) {
      case "set": {
        need(2);
        let value: OpValue;
        try {
          value = JSON.parse(b);
        } catch {
          value = b; // not JSON: take the word as a string
        }
        ops.push({ op: "set", key: a, value });
        break;
      }
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
        if (!/^-?[0-9]+$/.test(b)) throw new UsageError(`inc needs an integer, got ${b}`);
        ops.push({ op: "inc", counter: a, by: Number(b) });
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
  if (ops.length === 0) throw new UsageError("push needs at least one op");
  return ops;
}

/** A local replica of the channel, folded from its deltas (to find the tags a remove names). */
async function replica(client: MeshClient, channel: string): Promise<ChannelState> {
  const state = new ChannelState(channel);
  for await (const { body } of client.tailAll(channel)) {
    state.apply({ ...JSON.parse(body), id: deltaId(utf8Encode(body)) });
  }
  return state;
}

export async function main(
  args: string[],
  env: Record<string, string | undefined>,
): Promise<number> {
  const [command, ...restArgs] = args;
  const flags = parseFlags(restArgs, env);
  const client = new MeshClient(flags.url);
  switch (command) {
    case "keygen": {
      const key = AgentKey.generate();
      await key.save(flags.key);
      console.log(`agent ${key.id} → ${flags.key}`);
      return 0;
    }
    case "push": {
      const [channel, ...words] = flags.rest;
      if (channel === undefined) throw new UsageError("push needs a channel");
      const agent = new Agent(await AgentKey.load(flags.key));
      const ops = await parseOps(words, channel, client);
      await agent.resumeFrom(client, channel);
      const [result] = await client.push([agent.sign(channel, ops)]);
      console.log(JSON.stringify(result));
      return result.status === "rejected" ? 1 : 0;
    }
    case "get": {
      const [channel] = flags.rest;
      if (channel === undefined) throw new UsageError("get needs a channel");
      console.log(JSON.stringify(await client.view(channel), null, 2));
      return 0;
    }
    case "tail": {
      const [channel] = flags.rest;
      if (channel === undefined) throw new UsageError("tail needs a channel");
      let cursor = flags.after;
      for (;;) {
        for await (const delta of client.tailAll(channel, cursor)) {
          console.log(JSON.stringify({ body: JSON.parse(delta.body), sig: delta.sig }));
          cursor = delta.cursor;
        }
        if (!flags.follow) return 0;
        await new Promise((r) => setTimeout(r, TAIL_FOLLOW_POLL_MS));
      }
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command ?? "")}`);
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args, Deno.env.toObject()));
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`usage error: ${error.message}\n(see the header of src/client/cli.ts)`);
      Deno.exit(2);
    }
    console.error((error as Error).message);
    Deno.exit(1);
  }
}

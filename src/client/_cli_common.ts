/** What the agent CLI's commands share: the command line's flags, the key, signing a push. */
import type { Op } from "../protocol/delta.ts";
import type { DeltaResult } from "../protocol/result.ts";
import { AgentKey } from "../crypto/agent_key.ts";
import { Agent } from "./agent.ts";
import { UsageError } from "./_cli_ops.ts";
import { HybridClock } from "./hybrid_clock.ts";
import { type Envelope, MeshClient } from "./mesh_client.ts";
import { FileSeqLedger } from "./seq_ledger.ts";

/** Most agents one `discover` page may ask for (the region's `DISCOVER_LIMIT_MAX`). */
export const DISCOVER_LIMIT_MAX = 100;

/** A failure worth one sentence and a hint, not a stack trace. */
export class CliError extends Error {}

export interface Flags {
  url: string;
  key: string;
  after: string;
  follow: boolean;
  help: boolean;
  /** Discovery: --skill, --tag (repeatable), --q, --limit, --cursor. */
  skill?: string;
  tags: string[];
  q?: string;
  /** As given: each command checks its own range (`limitWithin`). */
  limit?: string;
  cursor?: string;
  /** Messaging: --ttl (ms), --since (ms since the epoch), --count, --ack. */
  ttl?: number;
  since?: number;
  count?: number;
  ack: boolean;
  /** Proposals: --option (repeatable), --deadline, --grace, --agents, --weights, --threshold,
   * --body; listing: --state, --votes. */
  options: string[];
  deadline?: string;
  grace?: number;
  agents?: string;
  weights?: string;
  threshold?: string;
  body?: string;
  state?: string;
  votes?: number;
  /** Blobs: --name, --type (put-blob), --out, --range (get-blob). */
  name?: string;
  type?: string;
  out?: string;
  range?: string;
  rest: string[];
}

export function parseFlags(args: string[], env: Record<string, string | undefined>): Flags {
  const flags: Flags = {
    url: env.MESH_URL ?? "http://127.0.0.1:8000",
    key: env.MESH_AGENT_KEY ?? "./agent.key.json",
    after: "0",
    follow: false,
    help: false,
    tags: [],
    ack: false,
    options: [],
    rest: [],
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (VALUE_OPTIONS.includes(arg)) {
      const value = args[++i];
      if (value === undefined) throw new UsageError(`${arg} needs a value`);
      if (arg === "--tag") flags.tags.push(value);
      else if (arg === "--option") flags.options.push(value);
      else if (INTEGER_OPTIONS.includes(arg)) {
        flags[arg.slice(2) as "ttl" | "since" | "count" | "grace" | "votes"] = integerOf(
          arg,
          value,
        );
      } else flags[arg.slice(2) as StringOption] = value;
    } else if (arg === "--follow") flags.follow = true;
    else if (arg === "--ack") flags.ack = true;
    else if (arg === "--help" || arg === "-h") flags.help = true;
    else if (arg.startsWith("--")) throw new UsageError(`unknown option ${arg}`);
    else flags.rest.push(arg);
  }
  if (!/^https?:\/\/[^/\s]+/.test(flags.url)) {
    throw new UsageError(
      `${JSON.stringify(flags.url)} is not a region URL: give --url (or MESH_URL) as ` +
        "http://HOST:PORT, e.g. http://127.0.0.1:8000",
    );
  }
  return flags;
}

const VALUE_OPTIONS = [
  "--url",
  "--key",
  "--after",
  "--skill",
  "--tag",
  "--q",
  "--limit",
  "--cursor",
  "--ttl",
  "--since",
  "--count",
  "--option",
  "--deadline",
  "--grace",
  "--agents",
  "--weights",
  "--threshold",
  "--body",
  "--state",
  "--votes",
  "--name",
  "--type",
  "--out",
  "--range",
];
const INTEGER_OPTIONS = ["--ttl", "--since", "--count", "--grace", "--votes"];
type StringOption =
  | "url"
  | "key"
  | "after"
  | "skill"
  | "q"
  | "limit"
  | "cursor"
  | "deadline"
  | "agents"
  | "weights"
  | "threshold"
  | "body"
  | "state"
  | "name"
  | "type"
  | "out"
  | "range";

/** A whole number option (at most 2^53 - 1); each command checks its range. */
function integerOf(option: string, word: string): number {
  if (!/^[0-9]{1,16}$/.test(word) || !Number.isSafeInteger(Number(word))) {
    throw new UsageError(`${option} must be a whole number, got ${word}`);
  }
  return Number(word);
}

/** The `--limit` given, checked to be 1 … `max`; undefined when not given. */
export function limitWithin(flags: Flags, max: number): number | undefined {
  if (flags.limit === undefined) return undefined;
  const n = /^[0-9]{1,4}$/.test(flags.limit) ? Number(flags.limit) : NaN;
  if (!(n >= 1 && n <= max)) {
    throw new UsageError(`--limit must be an integer from 1 to ${max}, got ${flags.limit}`);
  }
  return n;
}

/**
 * The agent key at `path` when there is a file there (to sign a read that members-only data may
 * need), else none.
 */
export async function keyIfAny(path: string, doing: string): Promise<AgentKey | undefined> {
  try {
    await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  return await loadKey(path, doing);
}

export async function loadKey(path: string, doing: string): Promise<AgentKey> {
  try {
    return await AgentKey.load(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CliError(
        `Cannot ${doing} as there is no agent key at ${path}: run \`deno task agent keygen\` ` +
          `to create one, or point --key / MESH_AGENT_KEY at yours.`,
      );
    }
    if (error instanceof SyntaxError) {
      throw new CliError(`Cannot ${doing} as ${path} is not JSON: it is not an agent key file.`);
    }
    throw error;
  }
}

/**
 * Signs one delta of `channel` with the key of `flags` and pushes it, printing the result; the
 * exit code. `opsOf` builds the ops (it may read the region; it is given the agent's id); a delta every region would refuse
 * throws `InvalidDeltaError` before a seq is claimed.
 */
export async function signAndPush(
  flags: Flags,
  channel: string,
  doing: string,
  opsOf: (client: MeshClient, agentId: string) => Op[] | Promise<Op[]>,
): Promise<number> {
  const key = await loadKey(flags.key, doing);
  const client = new MeshClient(flags.url);
  const ops = await opsOf(client, key.id);
  const agent = new Agent(key, new HybridClock(), new FileSeqLedger(flags.key, key.id));
  agent.check(channel, ops); // a mistake costs no seq: nothing is claimed or sent
  // Never below what the region holds: a key whose state file is missing (a new machine, a
  // deleted file) continues after the region's highest seq of this key.
  await agent.resumeFrom(client, channel);
  const envelope = await agent.signNext(channel, ops);
  let result: DeltaResult;
  try {
    [result] = await client.push([envelope]);
  } catch (error) {
    console.error(unsent(envelope));
    throw error;
  }
  console.log(JSON.stringify(result));
  if (result.status !== "rejected") return 0;
  console.error(rejection(result));
  return 1;
}

function unsent(envelope: Envelope): string {
  const seq = JSON.parse(envelope.body).seq;
  return `The delta was signed with seq ${seq} but the region may not have stored it. Resend ` +
    `exactly this push body to POST /v1/deltas (never sign another body with seq ${seq}):\n` +
    JSON.stringify({ deltas: [envelope] });
}

export function rejection(result: DeltaResult & { status: "rejected" }, what = "delta"): string {
  switch (result.reason) {
    case "seq_conflict":
      return "The region holds another delta of this key with the same seq: this key equivocated. " +
        "Every region quarantines it for good and views leave out all its deltas. Create a new " +
        "key with `deno task agent keygen --key NEW_FILE`; never use one key on two machines.";
    case "quarantined":
      return "This key is quarantined in every region (it once signed two deltas with one seq): " +
        "views leave out all its deltas, for good. Create a new key with " +
        "`deno task agent keygen --key NEW_FILE`.";
    default:
      return `The region rejected the ${what} (${result.reason}): ${result.detail}`;
  }
}

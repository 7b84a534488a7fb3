/**
 * The agent CLI's registry commands (docs/protocol.md §20): `announce <card.json>`, `withdraw`,
 * `discover [--skill S] [--tag T ...] [--q TEXT] [--limit N] [--cursor C]`, `card <agent-id>`,
 * `heartbeat`.
 */
import { REGISTRY_CHANNEL } from "../protocol/agent_card.ts";
import { ID_PATTERN, type OpValue } from "../protocol/delta.ts";
import {
  CliError,
  DISCOVER_LIMIT_MAX,
  type Flags,
  limitWithin,
  loadKey,
  signAndPush,
} from "./_cli_common.ts";
import { UsageError } from "./_cli_ops.ts";
import { CardVerificationError } from "./agent_card_answer.ts";
import { type DiscoveredAgent, MeshClient } from "./mesh_client.ts";

/** Largest card file `announce` reads, in bytes (a whole delta is at most 16 KiB anyway). */
export const CARD_FILE_BYTES_MAX = 65_536;

export async function announce(flags: Flags): Promise<number> {
  const [path, ...extra] = flags.rest;
  if (path === undefined) throw new UsageError("announce needs a card file (JSON)");
  if (extra.length > 0) throw new UsageError("announce takes one card file");
  const card = await readCard(path);
  return signAndPush(flags, REGISTRY_CHANNEL, "announce", (_, id) => [
    { op: "set", key: id, value: card },
  ]);
}

export function withdraw(flags: Flags): Promise<number> {
  if (flags.rest.length > 0) throw new UsageError("withdraw takes no arguments");
  return signAndPush(flags, REGISTRY_CHANNEL, "withdraw", (_, id) => [{ op: "del", key: id }]);
}

async function readCard(path: string): Promise<OpValue> {
  let text: string;
  try {
    const file = await Deno.stat(path);
    if (file.size > CARD_FILE_BYTES_MAX) {
      throw new CliError(
        `Cannot announce ${path} as it is ${file.size} bytes: a card is at most ` +
          `${CARD_FILE_BYTES_MAX} bytes (and its delta 16 KiB).`,
      );
    }
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CliError(
        `Cannot announce as there is no card file at ${path}: write one (see ` +
          "`deno task agent announce --help` for an example).",
      );
    }
    throw error;
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliError(`Cannot announce as ${path} is not JSON: ${(error as Error).message}.`);
  }
}

export async function discover(flags: Flags): Promise<number> {
  if (flags.rest.length > 0) {
    throw new UsageError(`discover takes options only, not ${JSON.stringify(flags.rest[0])}`);
  }
  const page = await new MeshClient(flags.url).discover({
    skill: flags.skill,
    tags: flags.tags,
    q: flags.q,
    limit: limitWithin(flags, DISCOVER_LIMIT_MAX),
    cursor: flags.cursor,
  });
  for (const agent of page.agents) console.log(line(agent));
  console.error(
    page.cursor === null
      ? `${page.agents.length} agent(s); no more pages`
      : `${page.agents.length} agent(s); more with --cursor ${page.cursor}`,
  );
  return 0;
}

/** `<id>  <name> <version>  skills: a, b  [stale]  seen <iso> in <region>`. */
function line(agent: DiscoveredAgent): string {
  const skills = agent.card.skills.map((s) => s.id).join(",") || "-";
  const seen = new Date(agent.lastSeen).toISOString();
  return [
    agent.id,
    `${agent.card.name} ${agent.card.version}`,
    `skills: ${skills}`,
    `${agent.stale ? "stale, " : ""}seen ${seen}${agent.region ? ` in ${agent.region}` : ""}`,
  ].join("  ");
}

export async function card(flags: Flags): Promise<number> {
  const [id, ...extra] = flags.rest;
  if (id === undefined) throw new UsageError("card needs an agent id");
  if (extra.length > 0) throw new UsageError("card takes one agent id");
  if (!ID_PATTERN.test(id)) {
    throw new UsageError(
      `${JSON.stringify(id)} is not an agent id: an id is 43 base64url characters (a public key)`,
    );
  }
  try {
    const found = await new MeshClient(flags.url).card(id);
    if (found === null) {
      throw new CliError(
        `The region at ${flags.url} holds no card for ${id}: it was never announced there, ` +
          "was withdrawn, or the agent is quarantined.",
      );
    }
    console.log(JSON.stringify(found.card, null, 2));
    console.error(
      `verified: signed by ${id} (seq ${found.seq}, ${new Date(found.ts).toISOString()})`,
    );
    return 0;
  } catch (error) {
    if (!(error instanceof CardVerificationError)) throw error;
    throw new CliError(
      `The signature does not verify: the card the region at ${flags.url} gave for ${id} is ` +
        `not the one ${id} signed (${error.problem}). Do not trust it; ask another region.`,
    );
  }
}

export async function heartbeat(flags: Flags): Promise<number> {
  if (flags.rest.length > 0) throw new UsageError("heartbeat takes no arguments");
  const key = await loadKey(flags.key, "send a heartbeat");
  await new MeshClient(flags.url).heartbeat(key);
  console.log(`heartbeat: ${key.id} is alive at ${flags.url}`);
  return 0;
}

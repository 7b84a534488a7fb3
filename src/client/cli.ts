/**
 * `deno task agent <command>`: the agent CLI (`deno task agent help` prints the usage).
 *
 *   keygen                                     create a key file (default ./agent.key.json)
 *   push <channel> <op> <args...> [...]        sign and push one delta
 *   get <channel>                              print the channel's view
 *   tail <channel> [--after CURSOR] [--follow] print signed envelopes as JSON lines
 *   announce <card.json> | withdraw            publish or withdraw this agent's card
 *   discover [--skill S] [--tag T]... [--q X]  find agents (one line each, cursor on stderr)
 *   card <agent-id>                            print an agent's card, verified offline
 *   heartbeat                                  tell the region this agent is alive (signed)
 *   publish <topic> <json> [--ttl MS]          sign and publish a topic message
 *   subscribe <subject> [--since MS] [--cursor C] [--count N]
 *                                              follow topics (one JSON line per message)
 *   send <agent-id> <json> [--ttl MS]          seal and send a direct message
 *   inbox [--after N] [--limit N] [--ack]      print this agent's messages, decrypted
 *   ack <message-id>...                        acknowledge messages of this agent's inbox
 *   propose <title> --option A --option B --deadline WHEN (--agents IDS | --skill S | --tag T)
 *   vote <proposal-id> <option>                cast or change this agent's ballot
 *   proposal <proposal-id> [--votes N]         print a proposal's tally, verified
 *   proposals [--state S]                      list the region's proposals
 *   put-blob <file> [--name N] [--type T] [--tag T]...   upload a blob, sign its metadata
 *   get-blob <sha256> [--out FILE] [--range A-B]         download a blob, hash checked
 *
 * Options: --url URL (default $MESH_URL or http://127.0.0.1:8000), --key FILE ($MESH_AGENT_KEY).
 * Exit codes: 0 done, 1 failed (or the delta was rejected), 2 a mistake in the command line.
 */
import { InvalidDeltaError } from "./agent.ts";
import { AgentKey } from "../crypto/agent_key.ts";
import { parseOps, UsageError } from "./_cli_ops.ts";
import { CliError, type Flags, parseFlags, signAndPush } from "./_cli_common.ts";
import { announce, card, discover, heartbeat, withdraw } from "./_cli_registry.ts";
import { ack, inbox, publish, send, subscribe } from "./_cli_messaging.ts";
import { proposal, proposals, propose, vote } from "./_cli_proposals.ts";
import { type Command, COMMANDS, USAGE } from "./_cli_usage.ts";
import { getBlobCommand, putBlobCommand } from "./_cli_blobs.ts";
import { MeshClient, MeshHttpError, MeshUnreachableError } from "./mesh_client.ts";
import { seqStatePath } from "./seq_ledger.ts";
import { exactJsonText } from "./view_json.ts";
import { CHANNEL_PATTERN, TAIL_LIMIT_MAX } from "../protocol/limits.ts";

/** How long each long-poll of `tail --follow` waits for a delta, in seconds. */
export const TAIL_FOLLOW_WAIT_S = 25;

function isCommand(word: string | undefined): word is Command {
  return (COMMANDS as readonly string[]).includes(word ?? "");
}

/** Runs the CLI; resolves to the exit code. Prints results to stdout and failures to stderr. */
export async function main(
  args: string[],
  env: Record<string, string | undefined>,
): Promise<number> {
  const [command, ...restArgs] = args;
  const known = isCommand(command) ? command : undefined;
  try {
    if (command === "help" || command === "--help" || command === "-h") {
      const topic = restArgs.find(isCommand);
      console.log(USAGE[topic ?? "cli"]);
      return 0;
    }
    const flags = parseFlags(restArgs, env);
    if (flags.help) {
      console.log(USAGE[known ?? "cli"]);
      return 0;
    }
    if (known === undefined) {
      throw new UsageError(
        command === undefined ? "no command given" : `unknown command ${JSON.stringify(command)}`,
      );
    }
    return await run(known, flags);
  } catch (error) {
    return report(error, known);
  }
}

function run(command: Command, flags: Flags): Promise<number> {
  switch (command) {
    case "keygen":
      return keygen(flags);
    case "push":
      return push(flags);
    case "get":
      return get(flags);
    case "tail":
      return tail(flags);
    case "announce":
      return announce(flags);
    case "withdraw":
      return withdraw(flags);
    case "discover":
      return discover(flags);
    case "card":
      return card(flags);
    case "heartbeat":
      return heartbeat(flags);
    case "publish":
      return publish(flags);
    case "subscribe":
      return subscribe(flags);
    case "send":
      return send(flags);
    case "inbox":
      return inbox(flags);
    case "ack":
      return ack(flags);
    case "propose":
      return propose(flags);
    case "vote":
      return vote(flags);
    case "proposal":
      return proposal(flags);
    case "proposals":
      return proposals(flags);
    case "put-blob":
      return putBlobCommand(flags);
    case "get-blob":
      return getBlobCommand(flags);
  }
}

async function keygen(flags: Flags): Promise<number> {
  if (flags.rest.length > 0) throw new UsageError(`keygen takes no arguments`);
  const key = AgentKey.generate();
  try {
    await key.save(flags.key);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CliError(
        `Cannot create a key at ${flags.key} as its folder does not exist: create the folder ` +
          "first or pass --key with a path in an existing folder.",
      );
    }
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    throw new CliError(
      `Cannot create a key at ${flags.key} as that file already exists. ` +
        `To keep it, use it as it is; for another key pass --key OTHER_FILE; ` +
        `to replace it, delete ${flags.key} first (its agent id cannot be recovered).`,
    );
  }
  // A seq-state file left at this path belonged to a deleted key: the new key starts afresh.
  await Deno.remove(seqStatePath(flags.key)).catch(() => undefined);
  console.log(`agent ${key.id} → ${flags.key} (keep it private; seqs go to its .seq.json)`);
  return 0;
}

/** The channel word of a command, checked here so a bad name is a usage error, not a 400. */
function channelArg(flags: Flags, command: Command): string {
  const [channel] = flags.rest;
  if (channel === undefined) throw new UsageError(`${command} needs a channel`);
  if (!CHANNEL_PATTERN.test(channel)) {
    throw new UsageError(
      `${JSON.stringify(channel)} is not a channel name: use letters, digits and . _ : - ` +
        "(1 to 64 characters, not . or ..), e.g. demo or team.notes",
    );
  }
  return channel;
}

function push(flags: Flags): Promise<number> {
  const channel = channelArg(flags, "push");
  return signAndPush(
    flags,
    channel,
    "push",
    (client) => parseOps(flags.rest.slice(1), channel, client),
  );
}

async function get(flags: Flags): Promise<number> {
  const channel = channelArg(flags, "get");
  console.log(exactJsonText(await new MeshClient(flags.url).view(channel), 2));
  return 0;
}

async function tail(flags: Flags): Promise<number> {
  const channel = channelArg(flags, "tail");
  const client = new MeshClient(flags.url);
  let cursor = flags.after;
  let reported: string | undefined;
  for (;;) {
    for await (const delta of client.tailAll(channel, cursor)) {
      console.log(JSON.stringify({ body: delta.body, sig: delta.sig }));
      cursor = delta.cursor;
    }
    if (cursor !== reported) {
      console.error(`cursor ${cursor}: resume with --after ${cursor}`);
      reported = cursor;
    }
    if (!flags.follow) return 0;
    // A long-poll: the region answers as soon as a delta arrives after the cursor.
    const page = await client.tail(channel, cursor, TAIL_LIMIT_MAX, TAIL_FOLLOW_WAIT_S);
    for (const { body, sig } of page.deltas) console.log(JSON.stringify({ body, sig }));
    cursor = page.cursor;
  }
}

/** One sentence (with a hint) on stderr for any failure; the exit code. */
function report(error: unknown, command: Command | undefined): number {
  if (error instanceof UsageError) {
    const help = command === undefined ? "--help" : `${command} --help`;
    console.error(`error: ${error.message}\nRun \`deno task agent ${help}\` for usage.`);
    return 2;
  }
  if (error instanceof InvalidDeltaError) {
    console.error(`error: ${error.message}. Nothing was sent and no seq was used.`);
    return 2;
  }
  if (error instanceof MeshUnreachableError) {
    console.error(
      `Cannot reach the region at ${error.url}: ${causeOf(error)}. Start one with ` +
        "`deno task start`, or point --url / MESH_URL at a running region.",
    );
    return 1;
  }
  if (error instanceof MeshHttpError || error instanceof CliError) {
    console.error(error.message);
    return 1;
  }
  console.error(error instanceof Error ? error.message : String(error));
  return 1;
}

function causeOf(error: MeshUnreachableError): string {
  const cause = error.cause as Error | undefined;
  const inner = (cause?.cause as Error | undefined)?.message ?? cause?.message ?? "no answer";
  // Deno nests "error sending request for url (…): client error (connect): … refused": keep the
  // last clause, which says what went wrong, without the OS error number.
  return inner.replace(/ \(os error \d+\)$/, "").split(": ").at(-1)!;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args, Deno.env.toObject()));
}

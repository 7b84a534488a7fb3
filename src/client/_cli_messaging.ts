/**
 * The agent CLI's messaging commands (docs/protocol.md §22, §23): `publish <topic> <json>`,
 * `subscribe <subject>`, `send <agent-id> <json>`, `inbox [--after N] [--limit N] [--ack]` and
 * `ack <id>...`. Signed messages take their seqs from the key's seq-state file, like `push`.
 */
import { ID_PATTERN } from "../protocol/delta.ts";
import {
  ACK_IDS_MAX,
  inboxChannel,
  isTopic,
  MESSAGE_TTL_MS_MAX,
  MESSAGE_TTL_MS_MIN,
  TOPIC_CHARS_MAX,
  TOPIC_RULE,
  TOPIC_TTL_MS_MAX,
  topicChannel,
} from "../protocol/message_kinds.ts";
import type { DeltaResult } from "../protocol/result.ts";
import type { AgentKey } from "../crypto/agent_key.ts";
import { Agent } from "./agent.ts";
import { CliError, type Flags, keyIfAny, limitWithin, loadKey, rejection } from "./_cli_common.ts";
import { jsonOrWord, UsageError } from "./_cli_ops.ts";
import { x25519PublicFromEd25519 } from "../crypto/x25519.ts";
import { decodeBase64Url } from "../protocol/base64url.ts";
import { HybridClock } from "./hybrid_clock.ts";
import { INBOX_LIMIT_MAX, type InboxMessage } from "./mailbox_client.ts";
import { type Envelope, MeshClient } from "./mesh_client.ts";
import {
  MessageVerificationError,
  openDirectMessage,
  sealDirectMessage,
  signAck,
  signTopicMessage,
  verifyTopicEvent,
} from "./messaging.ts";
import { FileSeqLedger } from "./seq_ledger.ts";

/** A subscription subject: topic tokens, `*` for one token, a final `>` for one or more. */
const SUBJECT_PATTERN = /^(\*|[A-Za-z0-9_-]+)(\.(\*|[A-Za-z0-9_-]+))*(\.>)?$|^>$/;

/** How a signed message goes to the region, for the resend hint when the answer is lost. */
export interface Route {
  readonly path: string;
  readonly field: "messages" | "acks" | "deltas";
  readonly what: string;
}

export function publish(flags: Flags): Promise<number> {
  const [topic, json, ...extra] = flags.rest;
  if (topic === undefined) throw new UsageError("publish needs a topic");
  if (!isTopic(topic)) {
    throw new UsageError(
      `${JSON.stringify(topic)} is not a topic: use ${TOPIC_RULE}, e.g. jobs.eu`,
    );
  }
  if (json === undefined) throw new UsageError("publish needs the data: one JSON value");
  if (extra.length > 0) throw new UsageError("publish takes one JSON value: quote it");
  const ttlMs = ttlOf(flags, TOPIC_TTL_MS_MAX);
  const data = jsonOrWord(json);
  const route = { path: `/v1/topics/${topic}`, field: "messages", what: "topic message" } as const;
  return signAndSend(flags, "publish", route, async (agent, client) => {
    await resumeSigned(agent, client, topicChannel(topic));
    const envelope = await signTopicMessage(agent, topic, data, { ttlMs });
    return { envelopes: [envelope], results: () => client.publish(topic, [envelope]) };
  });
}

export function send(flags: Flags): Promise<number> {
  const [to, json, ...extra] = flags.rest;
  if (to === undefined) throw new UsageError("send needs the recipient's agent id");
  if (!ID_PATTERN.test(to)) {
    throw new UsageError(
      `${JSON.stringify(to)} is not an agent id: an id is 43 base64url characters (a public key)`,
    );
  }
  try {
    x25519PublicFromEd25519(decodeBase64Url(to)!);
  } catch {
    throw new UsageError(
      `${to} is not an agent id: it is not a valid ed25519 public key (check it was copied whole)`,
    );
  }
  if (json === undefined) throw new UsageError("send needs the payload: one JSON value");
  if (extra.length > 0) throw new UsageError("send takes one JSON value: quote it");
  const ttlMs = ttlOf(flags, MESSAGE_TTL_MS_MAX);
  const payload = jsonOrWord(json);
  const route = { path: "/v1/messages", field: "messages", what: "direct message" } as const;
  return signAndSend(flags, "send a message", route, async (agent, client) => {
    await resumeSigned(agent, client, inboxChannel(to));
    const envelope = await sealDirectMessage(agent, to, payload, { ttlMs });
    return { envelopes: [envelope], results: () => client.send([envelope]) };
  });
}

export function ack(flags: Flags): Promise<number> {
  const ids = flags.rest;
  if (ids.length === 0) throw new UsageError("ack needs at least one message id");
  const bad = ids.find((id) => !ID_PATTERN.test(id));
  if (bad !== undefined) {
    throw new UsageError(`${JSON.stringify(bad)} is not a message id (43 base64url characters)`);
  }
  return signAndSend(flags, "acknowledge", ackRoute, async (agent, client) => {
    await resumeSigned(agent, client, inboxChannel(agent.key.id));
    const envelopes = await signAcks(agent, ids);
    return { envelopes, results: () => client.ack(agent.key, envelopes) };
  });
}

/** Where acknowledgements go, for the resend hint (the request must be signed again). */
const ackRoute = {
  path: "/v1/agents/<id>/inbox/ack (signed)",
  field: "acks",
  what: "acknowledgement",
} as const;

/**
 * Numbers the agent's next message in `channel` above the region's highest seq of its key, so a
 * missing seq-state file (a new machine, a deleted file) never reuses a seq. Signed: a mailbox
 * head is read only by its owner or by that author, a members-only topic's only by members.
 */
export async function resumeSigned(
  agent: Agent,
  client: MeshClient,
  channel: string,
): Promise<void> {
  agent.resume(channel, (await client.head(channel, agent.key.id, agent.key)).max);
}

/** One acknowledgement per ACK_IDS_MAX ids. */
async function signAcks(agent: Agent, ids: readonly string[]): Promise<Envelope[]> {
  const envelopes: Envelope[] = [];
  for (let i = 0; i < ids.length; i += ACK_IDS_MAX) {
    envelopes.push(await signAck(agent, ids.slice(i, i + ACK_IDS_MAX)));
  }
  return envelopes;
}

function ttlOf(flags: Flags, max: number): number | undefined {
  if (flags.ttl === undefined) return undefined;
  if (flags.ttl < MESSAGE_TTL_MS_MIN || flags.ttl > max) {
    throw new UsageError(`--ttl must be ${MESSAGE_TTL_MS_MIN} to ${max} ms, got ${flags.ttl}`);
  }
  return flags.ttl;
}

/**
 * Signs with the key of `flags` (seqs from its state file) and sends; prints one result line
 * per envelope; the exit code. If no answer comes, prints what to resend: never sign again.
 */
export async function signAndSend(
  flags: Flags,
  doing: string,
  route: Route,
  sign: (agent: Agent, client: MeshClient) => Promise<{
    envelopes: Envelope[];
    results: () => Promise<DeltaResult[]>;
  }>,
): Promise<number> {
  const key = await loadKey(flags.key, doing);
  const client = new MeshClient(flags.url);
  const agent = new Agent(key, new HybridClock(), new FileSeqLedger(flags.key, key.id));
  const { envelopes, results: sendThem } = await sign(agent, client);
  let results: DeltaResult[];
  try {
    results = await sendThem();
  } catch (error) {
    console.error(unsent(route, envelopes));
    throw error;
  }
  let code = 0;
  for (const result of results) {
    console.log(JSON.stringify(result));
    if (result.status !== "rejected") continue;
    console.error(rejection(result, route.what));
    code = 1;
  }
  return code;
}

function unsent(route: Route, envelopes: Envelope[]): string {
  const seqs = envelopes.map((e) => JSON.parse(e.body).seq).join(", ");
  return `The ${route.what} was signed (seq ${seqs}) but the region may not have stored it. ` +
    `Resend exactly this body to ${route.path} (never sign another with the same seq):\n` +
    JSON.stringify({ [route.field]: envelopes });
}

export async function subscribe(flags: Flags): Promise<number> {
  const [subject, ...extra] = flags.rest;
  if (subject === undefined) throw new UsageError("subscribe needs a topic or pattern");
  if (!SUBJECT_PATTERN.test(subject) || subject.length > TOPIC_CHARS_MAX) {
    throw new UsageError(
      `${JSON.stringify(subject)} is not a subject: use ${TOPIC_RULE}, where a token may be * ` +
        "(any one token) and the last one > (one or more), e.g. jobs.*.gpu or jobs.>",
    );
  }
  if (extra.length > 0) throw new UsageError("subscribe takes one subject");
  if (flags.count !== undefined && flags.count < 1) {
    throw new UsageError("--count must be 1 or more");
  }
  let cursor = flags.cursor;
  let printed = 0;
  const client = new MeshClient(flags.url);
  await client.health(); // a region that is down at the start is a mistake; later, a reconnect
  const subscription = client.subscribe(subject, {
    cursor,
    since: flags.since,
    key: await keyIfAny(flags.key, "sign the subscription"),
    onReconnect: (why, delayMs) =>
      console.error(`connection lost (${reason(why)}); resuming in ${delayMs} ms`),
  });
  // Ctrl-C: say where to resume (every line carries its cursor too), then stop.
  const onInterrupt = () => {
    if (cursor !== undefined) console.error(`cursor ${cursor}: resume with --cursor ${cursor}`);
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  for await (const message of subscription) {
    cursor = message.cursor;
    try {
      await verifyTopicEvent(message);
    } catch (error) {
      if (!(error instanceof MessageVerificationError)) throw error;
      console.error(`skipped: ${error.message}`);
      continue;
    }
    const { id, topic, author, seq, ts, data } = message;
    console.log(JSON.stringify({ id, topic, author, seq, ts, data, cursor }));
    if (++printed === flags.count) break;
  }
  Deno.removeSignalListener("SIGINT", onInterrupt);
  if (cursor !== undefined) console.error(`cursor ${cursor}: resume with --cursor ${cursor}`);
  return 0;
}

function reason(why: unknown): string {
  if (!(why instanceof Error)) return String(why);
  const cause = why.cause instanceof Error ? `: ${why.cause.message}` : "";
  return why.message + cause;
}

export async function inbox(flags: Flags): Promise<number> {
  if (flags.rest.length > 0) throw new UsageError("inbox takes options only");
  if (!/^[0-9]{1,16}$/.test(flags.after)) {
    throw new UsageError(`--after must be a whole number (an inbox cursor), got ${flags.after}`);
  }
  const limit = limitWithin(flags, INBOX_LIMIT_MAX);
  const key = await loadKey(flags.key, "read the inbox");
  const client = new MeshClient(flags.url);
  const page = await client.inbox(key, { after: flags.after, limit });
  const read = await printOpened(key, page.messages);
  const more = page.more
    ? flags.ack ? "; more are waiting: run inbox --ack again" : `; more with --after ${page.cursor}`
    : "";
  console.error(`${read.length} message(s)${more}`);
  if (!flags.ack || read.length === 0) return 0;
  const agent = new Agent(key, new HybridClock(), new FileSeqLedger(flags.key, key.id));
  await resumeSigned(agent, client, inboxChannel(key.id));
  const envelopes = await signAcks(agent, read);
  let results: DeltaResult[];
  try {
    results = await client.ack(key, envelopes);
  } catch (error) {
    console.error(unsent(ackRoute, envelopes));
    throw error;
  }
  const refused = results.find((r) => r.status === "rejected");
  if (refused?.status === "rejected") {
    throw new CliError(`${rejection(refused, "acknowledgement")}. Nothing printed was lost.`);
  }
  console.error(`acknowledged ${read.length} message(s)`);
  return 0;
}

/** Prints each message that verifies and opens as a JSON line; their ids. */
async function printOpened(
  key: AgentKey,
  messages: readonly InboxMessage[],
): Promise<string[]> {
  const read: string[] = [];
  for (const message of messages) {
    try {
      const { id, from, ts, payload } = await openDirectMessage(key, message);
      console.log(JSON.stringify({ id, from, ts, payload }));
      read.push(id);
    } catch (error) {
      if (!(error instanceof MessageVerificationError)) throw error;
      console.error(
        `skipped: ${error.message} (not acknowledged; \`ack ${message.id}\` drops it)`,
      );
    }
  }
  return read;
}

/**
 * Who may read a channel or topic (docs/protocol.md §19.3): the `read` field of the admission
 * rule that decides its name. `public` names are read by anyone; a `members` name only by an
 * agent its policy admits as a writer — an allowlisted author, or the holder of a certificate
 * for the name valid now — proven by a signed request. System channels are public, mailboxes
 * (`_inbox:`) aside: those are their owner's alone (`src/mailbox/`). A topic is judged by its
 * topic name, like its writes (`ingest.ts`).
 */
import { type AdmissionPolicy, ruleFor } from "./admission.ts";
import { certificatesOf } from "./certificates.ts";
import type { RegionStore } from "../store/region_store.ts";
import type { VerifyFn } from "../protocol/result.ts";
import { INBOX_CHANNEL_PREFIX, TOPIC_CHANNEL_PREFIX } from "../protocol/message_kinds.ts";

/** The admission name a channel is read under: its topic for `_topic:`, null for the system. */
export function readName(channel: string): string | null {
  if (channel.startsWith(TOPIC_CHANNEL_PREFIX)) return channel.slice(TOPIC_CHANNEL_PREFIX.length);
  return channel.startsWith("_") ? null : channel;
}

/**
 * Whether a channel is private: a mailbox (its owner's alone), or a members-only channel or
 * topic. Private channels are never listed nor served by the open sync routes.
 */
export function privateChannel(admission: AdmissionPolicy | undefined, channel: string): boolean {
  return channel.startsWith(INBOX_CHANNEL_PREFIX) || membersOnly(admission, readName(channel));
}

/** Whether reading the channel or topic `name` (a `readName`) needs a member's signed request. */
export function membersOnly(admission: AdmissionPolicy | undefined, name: string | null): boolean {
  return admission !== undefined && name !== null && ruleFor(admission, name).read === "members";
}

/**
 * What `agent` (a verified signer, or null for an unsigned request) may read, as a synchronous
 * test of `readName`s: certificates are caught up once, now (a subscription that lasts keeps the
 * answer it started with).
 */
export async function readerOf(
  admission: AdmissionPolicy | undefined,
  store: RegionStore,
  verify: VerifyFn,
  agent: string | null,
  nowMs: number,
): Promise<(name: string | null) => boolean> {
  if (admission === undefined) return () => true;
  const held = agent === null ? null : certificatesOf(store, admission, verify);
  await held?.refresh(nowMs);
  return (name) => {
    if (!membersOnly(admission, name)) return true;
    if (agent === null) return false;
    const rule = ruleFor(admission, name!);
    if (rule.policy === "allowlist") return rule.authors.has(agent);
    return held!.admits({ author: agent, channel: name!, ts: nowMs });
  };
}

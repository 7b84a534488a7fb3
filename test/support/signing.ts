/** Test helpers that sign real deltas with real keys, including deliberately wrong ones. */
import { Agent } from "../../src/client/agent.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { HybridClock } from "../../src/client/hybrid_clock.ts";
import type { Envelope } from "../../src/client/mesh_client.ts";
import { encodeBase64Url } from "../../src/protocol/base64url.ts";
import { deltaId, type Op, signedMessage } from "../../src/protocol/delta.ts";
import { utf8Encode } from "../../src/protocol/utf8.ts";

/** Fixed test time: 2026-01-01T00:00:00Z, in ms. */
export const T0_MS = 1_767_225_600_000;

/** An agent with a fresh key whose clock reads `wall` (default: fixed T0_MS). */
export function testAgent(wall: () => number = () => T0_MS): Agent {
  return new Agent(AgentKey.generate(), new HybridClock(wall));
}

/** Signs an arbitrary body text (valid or not) with `key`, as a client would. */
export function signBody(key: AgentKey, body: string, tag?: string): Envelope {
  const bytes = utf8Encode(body);
  const message = tag === undefined ? signedMessage(bytes) : utf8Encode(tag + body);
  return { body, sig: encodeBase64Url(key.sign(message)) };
}

/** A body object for `key` with overrides, for schema tests. */
export function bodyOf(
  key: AgentKey,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  const ops: Op[] = [{ op: "set", key: "k", value: 1 }];
  return { v: 1, author: key.id, seq: 1, channel: "c", ts: T0_MS, lc: 0, ops, ...overrides };
}

/** The id the region reports for an envelope. */
export function idOf(envelope: Envelope): string {
  return deltaId(utf8Encode(envelope.body));
}

/** A delta of `key` at `seq` in `channel` setting `k` to `value`: two values at one seq equivocate. */
export function signedSet(key: AgentKey, channel: string, seq: number, value: string): Envelope {
  return signBody(
    key,
    JSON.stringify(bodyOf(key, { channel, seq, ops: [{ op: "set", key: "k", value }] })),
  );
}

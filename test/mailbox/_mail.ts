/** Helpers of the mailbox tests: sealed direct messages, acks, signed inbox requests. */
import assert from "node:assert/strict";
import type { Hono } from "hono";
import type { Agent } from "../../src/client/agent.ts";
import type { Envelope } from "../../src/client/mesh_client.ts";
import { signRequest } from "../../src/client/request_signer.ts";
import { sealFor } from "../../src/crypto/sealed_message.ts";
import { ACK_SET, inboxChannel } from "../../src/protocol/message_kinds.ts";
import { utf8Encode } from "../../src/protocol/utf8.ts";

export async function directMessage(
  from: Agent,
  to: string,
  payload: unknown,
  ttl = 86_400_000,
): Promise<Envelope> {
  const { enc, ct } = await sealFor(to, from.key.id, utf8Encode(JSON.stringify(payload)));
  return from.signNextOf(inboxChannel(to), "message", (seq, ts, lc) => ({
    seq,
    to,
    ts,
    lc,
    ttl,
    enc,
    ct,
  }));
}

export function ackOf(owner: Agent, ids: string[]): Promise<Envelope> {
  return owner.signNext(
    inboxChannel(owner.key.id),
    ids.map((elem) => ({ op: "add" as const, set: ACK_SET, elem })),
  );
}

export async function send(app: Hono, messages: Envelope[]) {
  const response = await app.request("/v1/messages", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ messages }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()).results as { id: string; status: string; reason?: string }[];
}

/** `GET /v1/agents/{id}/inbox`, signed by `signer` (default the owner). */
export async function inbox(app: Hono, owner: Agent, nowMs: number, signer = owner, query = "") {
  const request = new Request(`http://localhost/v1/agents/${owner.key.id}/inbox${query}`);
  return await app.request(await signRequest(signer.key, request, { nowMs }));
}

/** `POST /v1/agents/{id}/inbox/ack`, signed by the owner. */
export async function ack(app: Hono, owner: Agent, acks: Envelope[], nowMs: number) {
  const request = new Request(`http://localhost/v1/agents/${owner.key.id}/inbox/ack`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ acks }),
  });
  return await app.request(await signRequest(owner.key, request, { nowMs }));
}

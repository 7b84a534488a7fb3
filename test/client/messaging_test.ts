/**
 * Topic messages, sealed direct messages and acknowledgements from the SDK's side, with no
 * region: signing (checked before a seq is claimed), sealing and opening, verifying what a region
 * hands back, and `MeshClient.subscribe()` following an event stream over a scripted fetch.
 */
import assert from "node:assert/strict";
import { Agent, InvalidDeltaError } from "../../src/client/agent.ts";
import { HybridClock } from "../../src/client/hybrid_clock.ts";
import type { InboxMessage } from "../../src/client/mailbox_client.ts";
import { type Envelope, MeshClient, MeshHttpError } from "../../src/client/mesh_client.ts";
import {
  MessageVerificationError,
  openDirectMessage,
  sealDirectMessage,
  signAck,
  signTopicMessage,
  verifyTopicEvent,
} from "../../src/client/messaging.ts";
import { MemorySeqLedger, type SeqLedger } from "../../src/client/seq_ledger.ts";
import type { TopicMessage } from "../../src/client/topic_client.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { SEALED_PLAINTEXT_BYTES_MAX } from "../../src/crypto/sealed_message.ts";
import { encodeBase64Url } from "../../src/protocol/base64url.ts";
import { deltaId, signedMessage } from "../../src/protocol/delta.ts";
import { parseEnvelope } from "../../src/protocol/envelope.ts";
import { utf8Encode } from "../../src/protocol/utf8.ts";

const NOW = 1_800_000_000_000;

/** A ledger that counts its claims, to show a refused message claimed none. */
class CountingLedger implements SeqLedger {
  readonly inner = new MemorySeqLedger();
  claims = 0;
  claim(channel: string, floor?: number): Promise<number> {
    this.claims++;
    return this.inner.claim(channel, floor);
  }
}

function agentAt(wall = NOW): { agent: Agent; ledger: CountingLedger } {
  const ledger = new CountingLedger();
  let now = wall;
  return { agent: new Agent(AgentKey.generate(), new HybridClock(() => now++), ledger), ledger };
}

const bodyOf = (envelope: Envelope) => JSON.parse(envelope.body);

/** The event a region delivers for a signed topic message (src/topics/topic_event.ts). */
function eventOf(envelope: Envelope): TopicMessage {
  const { topic, author, seq, ts, ttl, data } = bodyOf(envelope);
  const id = deltaId(utf8Encode(envelope.body));
  return { id, topic, author, seq, ts, expires: ts + ttl, data, envelope };
}

/** The inbox entry a region returns for a signed direct message (src/mailbox/inbox.ts). */
function inboxOf(envelope: Envelope): InboxMessage {
  const { author, seq, ts, ttl, enc, ct } = bodyOf(envelope);
  const id = deltaId(utf8Encode(envelope.body));
  return { id, from: author, seq, ts, expires: ts + ttl, enc, ct, envelope };
}

/** `body` signed by `key` with the domain tag of `kind`. */
function signAs(key: AgentKey, body: string, kind: "delta" | "topic" | "message"): Envelope {
  return { body, sig: encodeBase64Url(key.sign(signedMessage(utf8Encode(body), kind))) };
}

const problemIs = (problem: string) => (error: unknown) =>
  error instanceof MessageVerificationError && error.problem === problem;

Deno.test("signTopicMessage() signs the topic body with the topic tag, seqs per topic", async () => {
  const { agent } = agentAt();
  const first = await signTopicMessage(agent, "jobs.eu", { job: 1 });
  const second = await signTopicMessage(agent, "jobs.eu", [2], { ttlMs: 5_000 });
  const other = await signTopicMessage(agent, "jobs.us", "x");
  assert.deepEqual(Object.keys(bodyOf(first)), [
    "v",
    "author",
    "seq",
    "topic",
    "ts",
    "lc",
    "ttl",
    "data",
  ]);
  assert.deepEqual(
    [first, second, other].map((e) => [bodyOf(e).seq, bodyOf(e).ttl]),
    [[1, 3_600_000], [2, 5_000], [1, 3_600_000]],
  );
  const parsed = parseEnvelope(first, NOW + 1_000);
  assert.ok(parsed.ok);
  assert.equal(parsed.delta.kind, "topic");
  assert.equal(parsed.delta.channel, "_topic:jobs.eu");
  assert.deepEqual((await verifyTopicEvent(eventOf(first))).data, { job: 1 });
});

Deno.test("signTopicMessage() throws InvalidDeltaError for what every region refuses, claiming no seq", async () => {
  const { agent, ledger } = agentAt();
  const deep = JSON.parse("[".repeat(40) + "]".repeat(40));
  const cases: [string, unknown, number | undefined, string][] = [
    ["not a topic", 1, undefined, "bad_schema"],
    ["jobs.*", 1, undefined, "bad_schema"],
    ["jobs", 1, 999, "bad_schema"],
    ["jobs", 1, 86_400_001, "bad_schema"],
    ["jobs", deep, undefined, "bad_schema"],
    ["jobs", "x".repeat(20_000), undefined, "body_too_large"],
    ["jobs", 1n, undefined, "bad_json"],
    ["jobs", undefined, undefined, "bad_json"],
  ];
  for (const [topic, data, ttlMs, reason] of cases) {
    await assert.rejects(
      signTopicMessage(agent, topic, data, { ttlMs }),
      (e) => e instanceof InvalidDeltaError && e.reason === reason,
      `${topic} ${String(data).slice(0, 20)} ${ttlMs}`,
    );
  }
  assert.equal(ledger.claims, 0);
  assert.equal(bodyOf(await signTopicMessage(agent, "jobs", 1)).seq, 1, "no seq was used");
});

Deno.test("signTopicMessage() signs the data as it was when called", async () => {
  const { agent } = agentAt();
  const data = { state: "queued" };
  const signed = signTopicMessage(agent, "jobs", data);
  data.state = "x".repeat(20_000); // too large now: the copy taken at the call is what is signed
  assert.deepEqual(bodyOf(await signed).data, { state: "queued" });
});

Deno.test("sealDirectMessage() → openDirectMessage() gives the recipient the payload and the verified author", async () => {
  const { agent: alice } = agentAt();
  const bob = AgentKey.generate();
  const payload = { task: "translate", text: "héllo", n: [1, 2.5, null] };
  const envelope = await sealDirectMessage(alice, bob.id, payload);
  const body = bodyOf(envelope);
  assert.deepEqual(Object.keys(body), ["v", "author", "seq", "to", "ts", "lc", "ttl", "enc", "ct"]);
  assert.equal(body.to, bob.id);
  assert.equal(body.ttl, 86_400_000);
  assert.ok(!envelope.body.includes("translate"), "the payload travels sealed");
  const parsed = parseEnvelope(envelope, NOW + 1_000);
  assert.ok(parsed.ok);
  assert.equal(parsed.delta.channel, `_inbox:${bob.id}`);
  const opened = await openDirectMessage(bob, inboxOf(envelope));
  assert.deepEqual(opened, {
    id: deltaId(utf8Encode(envelope.body)),
    from: alice.key.id,
    seq: 1,
    ts: body.ts,
    expires: body.ts + body.ttl,
    payload,
  });
  const again = await sealDirectMessage(alice, bob.id, "second", { ttlMs: 1_000 });
  assert.equal(bodyOf(again).seq, 2, "seqs count per recipient mailbox");
  assert.equal((await openDirectMessage(bob, inboxOf(again))).payload, "second");
});

Deno.test("sealDirectMessage() refuses a bad recipient, ttl or an oversized payload before claiming a seq", async () => {
  const { agent, ledger } = agentAt();
  const bob = AgentKey.generate().id;
  const big = "x".repeat(SEALED_PLAINTEXT_BYTES_MAX - 1); // its JSON has 2 quotes more
  const refusals: [Promise<Envelope>, string][] = [
    [sealDirectMessage(agent, "not-an-id", 1), "bad_schema"],
    [sealDirectMessage(agent, bob, 1, { ttlMs: 604_800_001 }), "bad_schema"],
    [sealDirectMessage(agent, bob, big), "body_too_large"],
    [sealDirectMessage(agent, bob, undefined), "bad_json"],
  ];
  for (const [sealing, reason] of refusals) {
    await assert.rejects(sealing, (e) => e instanceof InvalidDeltaError && e.reason === reason);
  }
  assert.equal(ledger.claims, 0);
  const largest = await sealDirectMessage(agent, bob, "x".repeat(SEALED_PLAINTEXT_BYTES_MAX - 2));
  assert.equal(bodyOf(largest).seq, 1, "the largest payload fits, and no seq was used before");
});

Deno.test("openDirectMessage() refuses a message for someone else, forged, tampered or re-signed", async () => {
  const { agent: alice } = agentAt();
  const bob = AgentKey.generate();
  const mallory = AgentKey.generate();
  const envelope = await sealDirectMessage(alice, bob.id, { pay: 10 });
  const message = inboxOf(envelope);

  await assert.rejects(openDirectMessage(mallory, message), problemIs("wrong_recipient"));
  // Mallory signs Alice's body with her own key: the signature is not the author's.
  const forged = { ...envelope, sig: signAs(mallory, envelope.body, "message").sig };
  await assert.rejects(openDirectMessage(bob, inboxOf(forged)), problemIs("bad_signature"));
  // Alice's signature over a body whose ttl was changed on the way.
  const tampered = { ...envelope, body: envelope.body.replace('"ttl":86400000', '"ttl":86400001') };
  await assert.rejects(
    openDirectMessage(bob, { ...message, envelope: tampered }),
    problemIs("bad_signature"),
  );
  // Alice's body signed as a delta is not a direct message signature (domain tags differ).
  const asDelta = signAs(alice.key, envelope.body, "delta");
  await assert.rejects(openDirectMessage(bob, inboxOf(asDelta)), problemIs("bad_signature"));
  // Fields shown beside the envelope must be the ones signed.
  await assert.rejects(
    openDirectMessage(bob, { ...message, from: mallory.id }),
    problemIs("mismatch"),
  );
  await assert.rejects(openDirectMessage(bob, { ...message, id: "x" }), problemIs("mismatch"));
  // Mallory copies Alice's ciphertext into a message she signs: the AAD binds the author.
  const copied = signAs(mallory, envelope.body.replace(alice.key.id, mallory.id), "message");
  await assert.rejects(openDirectMessage(bob, inboxOf(copied)), problemIs("undecryptable"));
  await assert.rejects(
    openDirectMessage(bob, { ...message, envelope: undefined } as unknown as InboxMessage),
    problemIs("malformed"),
  );
  assert.deepEqual((await openDirectMessage(bob, message)).payload, { pay: 10 });
});

Deno.test("openDirectMessage() refuses a topic message shown as a direct message", async () => {
  const { agent } = agentAt();
  const bob = AgentKey.generate();
  const topic = await signTopicMessage(agent, "jobs", 1);
  await assert.rejects(
    openDirectMessage(bob, { ...inboxOf(topic), envelope: topic }),
    problemIs("bad_envelope"),
  );
});

Deno.test("signAck() adds the ids to the set acked of the own mailbox, 1 to 64 of them", async () => {
  const { agent, ledger } = agentAt();
  const ids = Array.from({ length: 64 }, (_, i) => encodeBase64Url(new Uint8Array(32).fill(i)));
  const ack = await signAck(agent, ids);
  const body = bodyOf(ack);
  assert.equal(body.channel, `_inbox:${agent.key.id}`);
  assert.deepEqual(body.ops, ids.map((elem) => ({ op: "add", set: "acked", elem })));
  assert.ok(parseEnvelope(ack, NOW + 1_000).ok);
  assert.equal(ledger.claims, 1);
  for (const bad of [[], [...ids, ids[0]], ["not-an-id"]]) {
    await assert.rejects(
      signAck(agent, bad),
      (e) => e instanceof InvalidDeltaError && e.reason === "bad_ack",
    );
  }
  assert.equal(ledger.claims, 1, "a refused acknowledgement claims no seq");
});

Deno.test("verifyTopicEvent() refuses an event whose fields or signature are not the author's", async () => {
  const { agent } = agentAt();
  const mallory = AgentKey.generate();
  const envelope = await signTopicMessage(agent, "jobs.eu", { job: 1 });
  const event = eventOf(envelope);
  assert.equal(await verifyTopicEvent(event), event);
  const altered: [Partial<TopicMessage>, string][] = [
    [{ data: { job: 2 } }, "mismatch"],
    [{ topic: "jobs.us" }, "mismatch"],
    [{ author: mallory.id }, "mismatch"],
    [{ seq: 9 }, "mismatch"],
    [{ expires: event.expires + 1 }, "mismatch"],
    [{ id: "x" }, "mismatch"],
    [
      { envelope: { ...envelope, sig: signAs(mallory, envelope.body, "topic").sig } },
      "bad_signature",
    ],
    [{ envelope: signAs(agent.key, envelope.body, "message") }, "bad_signature"],
    [{ envelope: { body: "{}", sig: envelope.sig } }, "bad_envelope"],
  ];
  for (const [change, problem] of altered) {
    await assert.rejects(
      verifyTopicEvent({ ...event, ...change }),
      problemIs(problem),
      JSON.stringify(change).slice(0, 60),
    );
  }
});

/** A scripted region: each connection answers with the next script (SSE text, or a failure). */
function scriptedFetch(scripts: (string | Error | Response)[]) {
  const requests: Request[] = [];
  const fetchFn = ((input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    requests.push(request);
    const next = scripts.shift();
    if (next === undefined) {
      // No script left: a stream that stays open until the subscriber goes.
      const body = new ReadableStream({
        start(c) {
          request.signal.addEventListener("abort", () => c.error(request.signal.reason));
        },
      });
      return Promise.resolve(sse(body));
    }
    if (next instanceof Error) return Promise.reject(next);
    if (next instanceof Response) return Promise.resolve(next);
    return Promise.resolve(sse(next));
  }) as typeof fetch;
  return { fetchFn, requests };
}

const sse = (body: BodyInit) =>
  new Response(body, { headers: { "content-type": "text/event-stream; charset=utf-8" } });

const frame = (event: string, id: string, data: unknown) =>
  `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

Deno.test("MeshClient.subscribe() resumes from the last cursor after a network error and a dropped event, signing each connection", async () => {
  const { agent } = agentAt();
  const events = await Promise.all([1, 2, 3].map((n) => signTopicMessage(agent, "jobs", n)));
  const [one, two, three] = events.map(eventOf);
  const { fetchFn, requests } = scriptedFetch([
    `retry: 1\n\n${frame("ready", "c0", {})}${frame("message", "c1", one)}`, // then ends
    new TypeError("connection reset"),
    `${frame("ready", "c1", {})}${frame("message", "c2", two)}` +
    frame("dropped", "c2", { reason: "slow_subscriber", cursor: "c2" }),
    `: keep-alive\n\n${frame("ready", "c2", {})}${frame("message", "c3", three)}`,
  ]);
  const stop = new AbortController();
  const reconnects: number[] = [];
  const got: [unknown, string][] = [];
  const client = new MeshClient("http://region.test/", { fetch: fetchFn });
  for await (
    const message of client.subscribe("jobs.>", {
      since: 5,
      key: agent.key,
      signal: stop.signal,
      onReconnect: (_why, delayMs) => reconnects.push(delayMs),
    })
  ) {
    got.push([message.data, message.cursor]);
    if (got.length === 3) stop.abort();
  }
  assert.deepEqual(got, [[1, "c1"], [2, "c2"], [3, "c3"]]);
  assert.deepEqual(
    requests.map((
      r,
    ) => [new URL(r.url).pathname + new URL(r.url).search, r.headers.get("last-event-id")]),
    [
      ["/v1/topics/jobs.%3E/events?since=5", null],
      ["/v1/topics/jobs.%3E/events", "c1"],
      ["/v1/topics/jobs.%3E/events", "c1"],
      ["/v1/topics/jobs.%3E/events", "c2"],
    ],
  );
  const signatures = requests.map((r) => r.headers.get("signature-input") ?? "");
  assert.ok(signatures.every((s) => s.includes(`keyid="${agent.key.id}"`)), "each one signed");
  assert.equal(new Set(signatures).size, 4, "each connection signed anew (a fresh nonce)");
  assert.deepEqual(
    reconnects,
    [1, 2],
    "the region's retry, doubled after a failure; none after dropped",
  );
});

Deno.test("MeshClient.subscribe() ends with the region's refusal of the subscription itself", async () => {
  const problem = { type: "about:blank", title: "Invalid request", detail: "Subject must be ..." };
  const { fetchFn, requests } = scriptedFetch([Response.json(problem, { status: 400 })]);
  const client = new MeshClient("http://region.test", { fetch: fetchFn });
  await assert.rejects(
    async () => {
      for await (const _ of client.subscribe("jobs..x")) { /* nothing arrives */ }
    },
    (e) => e instanceof MeshHttpError && e.status === 400,
  );
  assert.equal(requests.length, 1);
});

Deno.test("MeshClient.subscribe() stops when its signal aborts while the stream is quiet", async () => {
  const { fetchFn } = scriptedFetch([]);
  const stop = new AbortController();
  const client = new MeshClient("http://region.test", { fetch: fetchFn });
  setTimeout(() => stop.abort(), 20);
  for await (const _ of client.subscribe("jobs", { signal: stop.signal })) {
    assert.fail("no message was sent");
  }
});

Deno.test("MeshClient.inbox() and ack() send requests signed by the mailbox owner", async () => {
  const { agent } = agentAt();
  const seen: Request[] = [];
  const fetchFn = ((input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    seen.push(request);
    const answer = request.method === "GET"
      ? { messages: [], cursor: "7", more: false }
      : { results: [{ id: "x", status: "accepted" }] };
    return Promise.resolve(Response.json(answer));
  }) as typeof fetch;
  const client = new MeshClient("http://region.test", { fetch: fetchFn });
  assert.deepEqual(await client.inbox(agent.key, { after: 7, limit: 5 }), {
    messages: [],
    cursor: "7",
    more: false,
  });
  const ack = await signAck(agent, [encodeBase64Url(new Uint8Array(32))]);
  assert.deepEqual(await client.ack(agent.key, [ack]), [{ id: "x", status: "accepted" }]);
  const [read, posted] = seen;
  assert.equal(read.url, `http://region.test/v1/agents/${agent.key.id}/inbox?after=7&limit=5`);
  assert.match(read.headers.get("signature-input")!, new RegExp(`keyid="${agent.key.id}"`));
  assert.equal(posted.url, `http://region.test/v1/agents/${agent.key.id}/inbox/ack`);
  assert.match(posted.headers.get("signature-input")!, /"content-digest"/);
  assert.deepEqual(await posted.json(), { acks: [ack] });
});

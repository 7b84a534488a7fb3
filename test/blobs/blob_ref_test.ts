/**
 * The `_blobs` rule (docs/protocol.md §25.2): every op is its author's own reference, `set` with
 * valid metadata or `del`; anything else is `bad_blob_ref`, checked by `parseEnvelope` like any
 * system channel — by hand on each way to break it, by fast-check on arbitrary ops, and through
 * `POST /v1/deltas` (nothing stored).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { type Agent, InvalidDeltaError } from "../../src/client/agent.ts";
import {
  BLOB_BYTES_MAX,
  blobOpsProblem,
  blobRefKey,
  BLOBS_CHANNEL,
  parseBlobRefKey,
} from "../../src/protocol/blob_ref.ts";
import type { Op } from "../../src/protocol/delta.ts";
import { parseEnvelope } from "../../src/protocol/envelope.ts";
import { createRegionApp } from "../../src/region/app.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { bodyOf, signBody, T0_MS, testAgent } from "../support/signing.ts";

const SHA = "ab".repeat(32);
const META = { name: "notes.md", type: "text/markdown; charset=utf-8", size: 1_234, tags: ["a"] };

/** Signed as is, past the SDK's own check (a client that does not check). */
function raw(agent: Agent, ops: Op[]) {
  return signBody(agent.key, JSON.stringify(bodyOf(agent.key, { channel: BLOBS_CHANNEL, ops })));
}

function parse(ops: Op[], agent = testAgent()) {
  return parseEnvelope(raw(agent, ops), T0_MS);
}

Deno.test("parseEnvelope() accepts _blobs deltas made of the author's own references", () => {
  const agent = testAgent();
  const mine = blobRefKey(agent.key.id, SHA);
  for (
    const ops of [
      [{ op: "set", key: mine, value: META }],
      [{ op: "set", key: mine, value: { name: "x", type: "application/octet-stream", size: 1 } }],
      [{ op: "del", key: mine }],
      [
        { op: "set", key: blobRefKey(agent.key.id, "0".repeat(64)), value: META },
        { op: "del", key: mine },
      ],
      [{ op: "set", key: mine, value: { ...META, size: BLOB_BYTES_MAX, tags: [] } }],
    ] as Op[][]
  ) {
    const parsed = parse(ops, agent);
    assert.ok(parsed.ok, JSON.stringify(parsed));
  }
  assert.deepEqual(parseBlobRefKey(mine), { author: agent.key.id, sha256: SHA });
});

Deno.test("parseEnvelope() rejects every other _blobs op as bad_blob_ref", () => {
  const agent = testAgent();
  const mine = blobRefKey(agent.key.id, SHA);
  const other = blobRefKey(testAgent().key.id, SHA);
  const cases: [Op[], RegExp][] = [
    [[{ op: "set", key: other, value: META }], /own references/],
    [[{ op: "del", key: other }], /own references/],
    [[{ op: "set", key: agent.key.id, value: META }], /key must be/],
    [[{ op: "set", key: `${agent.key.id}:${SHA.toUpperCase()}`, value: META }], /key must be/],
    [[{ op: "set", key: `${agent.key.id}:${SHA.slice(2)}`, value: META }], /key must be/],
    [[{ op: "add", set: mine, elem: "x" }], /only set/],
    [[{ op: "inc", counter: mine, by: 1 }], /only set/],
    [[{ op: "set", key: mine, value: { ...META, size: 0 } }], /size/],
    [[{ op: "set", key: mine, value: { ...META, size: BLOB_BYTES_MAX + 1 } }], /size/],
    [[{ op: "set", key: mine, value: { ...META, size: 1.5 } }], /size/],
    [[{ op: "set", key: mine, value: { ...META, type: "markdown" } }], /type/],
    [[{ op: "set", key: mine, value: { ...META, type: "text/plain; x" } }], /type/],
    [[{ op: "set", key: mine, value: { ...META, name: "" } }], /name/],
    [[{ op: "set", key: mine, value: { ...META, name: "a\nb" } }], /control/],
    [[{ op: "set", key: mine, value: { ...META, name: "n".repeat(257) } }], /name/],
    [[{ op: "set", key: mine, value: { ...META, tags: ["a", "a"] } }], /distinct/],
    [[{ op: "set", key: mine, value: { ...META, tags: Array(17).fill(0).map(String) } }], /tags/],
    [[{ op: "set", key: mine, value: { ...META, author: agent.key.id } }], /Unrecognized/],
    [[{ op: "set", key: mine, value: "meta" }], /object/],
    [[{ op: "set", key: mine, value: META }, { op: "set", key: other, value: META }], /ops\.1/],
  ];
  for (const [ops, detail] of cases) {
    const parsed = parse(ops, agent);
    assert.equal(parsed.ok, false, JSON.stringify(ops));
    if (parsed.ok) continue;
    assert.equal(parsed.reason, "bad_blob_ref", JSON.stringify(ops));
    assert.match(parsed.detail, detail, JSON.stringify(ops));
  }
});

Deno.test("Agent.signNext() refuses a bad _blobs delta before a seq is claimed", async () => {
  const agent = testAgent();
  await assert.rejects(
    agent.signNext(BLOBS_CHANNEL, [{ op: "del", key: blobRefKey(testAgent().key.id, SHA) }]),
    (e) => e instanceof InvalidDeltaError && e.reason === "bad_blob_ref",
  );
});

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant("set" as const),
    key: fc.string({ maxLength: 120 }),
    value: fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.record({
        name: fc.string({ maxLength: 300 }),
        type: fc.constantFrom("text/plain", "a/b", "bad", "image/png; q=1", ""),
        size: fc.oneof(fc.integer(), fc.double()),
        tags: fc.array(fc.string({ maxLength: 70 }), { maxLength: 20 }),
      }, { requiredKeys: [] }),
    ),
  }),
  fc.record({ op: fc.constant("del" as const), key: fc.string({ maxLength: 120 }) }),
  fc.record({
    op: fc.constant("add" as const),
    set: fc.string({ maxLength: 8 }),
    elem: fc.string(),
  }),
) as fc.Arbitrary<Op>;

Deno.test("fuzz: parseEnvelope() on arbitrary _blobs ops never throws, and accepts only own valid references", () => {
  const agent = testAgent();
  const mine = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) =>
    blobRefKey(agent.key.id, Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(""))
  );
  fc.assert(
    fc.property(
      fc.array(fc.oneof(opArb, mine.map((key: string) => ({ op: "del", key }) as Op)), {
        minLength: 1,
        maxLength: 6,
      }),
      (ops) => {
        const parsed = parseEnvelope(raw(agent, ops), T0_MS);
        const problem = blobOpsProblem(agent.key.id, ops);
        if (parsed.ok) {
          assert.equal(problem, null);
          for (const op of ops) {
            assert.equal(parseBlobRefKey((op as { key: string }).key)?.author, agent.key.id);
          }
        } else {
          assert.ok(["bad_blob_ref", "bad_schema"].includes(parsed.reason), parsed.reason);
        }
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("POST /v1/deltas answers bad_blob_ref for another author's reference and stores nothing", async () => {
  const store = new MemoryStore();
  const app = createRegionApp({ region: "t", store, now: () => T0_MS });
  const alice = testAgent(), mallory = testAgent();
  const push = async (deltas: unknown[]) =>
    (await (await app.request("/v1/deltas", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ deltas }),
    })).json()).results;
  const good = alice.sign(BLOBS_CHANNEL, [
    { op: "set", key: blobRefKey(alice.key.id, SHA), value: META },
  ]);
  const forged = raw(mallory, [{ op: "del", key: blobRefKey(alice.key.id, SHA) }]);
  const results = await push([good, forged]);
  assert.deepEqual(results.map((r: { status: string }) => r.status), ["accepted", "rejected"]);
  assert.equal(results[1].reason, "bad_blob_ref");
  const view = await (await app.request(`/v1/channels/${BLOBS_CHANNEL}`)).json();
  assert.deepEqual(view.map, { [blobRefKey(alice.key.id, SHA)]: META });
  assert.equal(view.deltas, 1);
});

/**
 * Fuzzing `POST /v1/peer/bootstrap` like the other routes (test/region/fuzz_test.ts): arbitrary
 * bytes, arbitrary JSON, and messages validly signed by a region of the topology with arbitrary
 * fields (cursors, limits, kinds, clocks) — every answer is below 500, a refusal is
 * problem+json, an accepted page stays within its bounds, and nothing is stored. Also: unknown
 * regions and forged signatures are refused, a page costs the asker a token (past the burst:
 * 429), and a replayed request is refused.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { DenoKvStore } from "../../src/store/deno_kv_store.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import {
  BOOTSTRAP_PAGE_BYTES_MAX,
  BOOTSTRAP_PAGE_DELTAS_MAX,
  BOOTSTRAP_PATH,
} from "../../src/mesh/bootstrap_page.ts";
import { BOOTSTRAP_PAGES_BURST } from "../../src/mesh/bootstrap_server.ts";
import { messageHead, SIGNATURE_HEADER, signRegionMessage } from "../../src/mesh/region_message.ts";
import { TwoRegions } from "./_two_regions.ts";

async function regions() {
  const mesh = new TwoRegions(
    await DenoKvStore.open(":memory:"),
    await DenoKvStore.open(":memory:"),
  );
  for (let i = 0; i < 4; i++) await mesh.tick();
  await mesh.seed(300, 2);
  return mesh;
}

const CONTENT_TYPES = ["application/json", "application/octet-stream", "text/plain", ""];

async function post(mesh: TwoRegions, body: BodyInit, type: string, signature?: string) {
  const headers: Record<string, string> = {};
  if (type !== "") headers["content-type"] = type;
  if (signature !== undefined) headers[SIGNATURE_HEADER] = signature;
  const response = await mesh.peer.app.request(BOOTSTRAP_PATH, { method: "POST", headers, body });
  const text = await response.text();
  if (response.status >= 400) {
    assert.equal(response.headers.get("content-type"), "application/problem+json", text);
  }
  return { status: response.status, text };
}

/** A message from `from` (signed with `key`) with arbitrary fields over a valid head. */
function signed(mesh: TwoRegions, key: AgentKey, from: string, fields: Record<string, unknown>) {
  const head = messageHead("bootstrap", from, "eu-1", 1, mesh.nowMs);
  return signRegionMessage((b) => key.sign(b), { ...head, ...fields });
}

Deno.test("POST /v1/peer/bootstrap answers arbitrary bytes and JSON below 500 and stores nothing", async () => {
  const mesh = await regions();
  try {
    const head = await mesh.peer.store.logHead();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 1_024 }).map((b) => b as Uint8Array<ArrayBuffer>),
          fc.jsonValue({ maxDepth: 5 }).map((v) => JSON.stringify(v)),
        ),
        fc.constantFrom(...CONTENT_TYPES),
        fc.option(fc.string({ maxLength: 100 })),
        async (body, type, signature) => {
          const { status } = await post(mesh, body, type, signature ?? undefined);
          assert.ok(status >= 400 && status < 500, `answered ${status}`);
        },
      ),
      { numRuns: 200 },
    );
    assert.equal(await mesh.peer.store.logHead(), head);
  } finally {
    await mesh.peer.store.close();
    await mesh.fresh.store.close();
  }
});

Deno.test("POST /v1/peer/bootstrap answers signed messages with arbitrary fields below 500, pages within bounds", async () => {
  const mesh = await regions();
  try {
    const head = await mesh.peer.store.logHead();
    const number = fc.oneof(
      fc.integer(),
      fc.double(),
      fc.constantFrom(0, 1, 17, 18, -1, BOOTSTRAP_PAGE_DELTAS_MAX, BOOTSTRAP_PAGE_DELTAS_MAX + 1),
    );
    const cursor = fc.oneof(
      fc.record({ shard: number, after: number }),
      fc.record({ shard: fc.integer({ min: 0, max: 17 }), after: fc.nat() }),
      fc.jsonValue({ maxDepth: 3 }),
    );
    const fields = fc.record({
      cursor,
      limit: fc.oneof(number, fc.jsonValue({ maxDepth: 2 })),
      kind: fc.constantFrom("bootstrap", "deltas", "fetch", ""),
    }, { requiredKeys: [] });
    await fc.assert(
      fc.asyncProperty(fields, async (f) => {
        mesh.nowMs += 1; // each message its own clock, within the window
        const message = signed(mesh, mesh.fresh.key, "eu-2", f);
        const { status, text } = await post(
          mesh,
          message.body,
          "application/json",
          message.signature,
        );
        assert.ok(status < 500, `answered ${status} to ${JSON.stringify(f)}`);
        if (status !== 200) return;
        const answer = JSON.parse(text);
        assert.ok(answer.deltas.length <= Math.min(BOOTSTRAP_PAGE_DELTAS_MAX, f.limit as number));
        assert.ok(text.length <= 2 * BOOTSTRAP_PAGE_BYTES_MAX + 65_536);
      }),
      { numRuns: 150 },
    );
    assert.equal(await mesh.peer.store.logHead(), head);
  } finally {
    await mesh.peer.store.close();
    await mesh.fresh.store.close();
  }
});

Deno.test("POST /v1/peer/bootstrap refuses unknown regions and forged signatures, and rate-limits a region's pages", async () => {
  const mesh = await regions();
  try {
    const page = { cursor: { shard: 0, after: 0 }, limit: 10 };
    const stranger = signed(mesh, AgentKey.generate(), "xx-9", page);
    assert.equal(
      (await post(mesh, stranger.body, "application/json", stranger.signature)).status,
      403,
    );
    const forged = signed(mesh, AgentKey.generate(), "eu-2", page);
    assert.equal((await post(mesh, forged.body, "application/json", forged.signature)).status, 403);
    const statuses: number[] = [];
    for (let i = 0; i <= BOOTSTRAP_PAGES_BURST; i++) {
      const message = signed(mesh, mesh.fresh.key, "eu-2", page);
      statuses.push((await post(mesh, message.body, "application/json", message.signature)).status);
    }
    assert.deepEqual(
      statuses.slice(0, BOOTSTRAP_PAGES_BURST),
      Array(BOOTSTRAP_PAGES_BURST).fill(200),
    );
    assert.equal(statuses.at(-1), 429);
    // A replayed page request is refused (its nonce is claimed).
    mesh.nowMs += 10_000;
    const once = signed(mesh, mesh.fresh.key, "eu-2", page);
    assert.equal((await post(mesh, once.body, "application/json", once.signature)).status, 200);
    assert.equal((await post(mesh, once.body, "application/json", once.signature)).status, 409);
  } finally {
    await mesh.peer.store.close();
    await mesh.fresh.store.close();
  }
});

/**
 * Review of 02e30a1 (eager forwarding): the relay-origin rules (each region relays a delta at
 * most once, nothing echoes, at most one crossing per zone pair from one region) with forwarding
 * on, and what forwarding does with a delta the region already holds.
 */
import assert from "node:assert/strict";
import type { Envelope } from "../../src/client/mesh_client.ts";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { idOf, testAgent } from "../support/signing.ts";

const LAYOUT = [
  { id: "eu-1", zone: "eu" },
  { id: "eu-2", zone: "eu" },
  { id: "us-1", zone: "us" },
  { id: "us-2", zone: "us" },
];

/**
 * A mesh that records, per `from>to:origin`, how often each delta id was sent in a peer message,
 * and every message's ids, per link, in the order sent.
 */
function recordingMesh(forwardEagerly = true) {
  const sends = new Map<string, number>();
  const messages: { link: string; ids: string[] }[] = [];
  const mesh = new InProcessMesh(LAYOUT, {
    forwardEagerly,
    intercept: (from, to, path, init) => {
      if (path === "/v1/peer/deltas") {
        const message = JSON.parse(String(init.body));
        const ids = (message.deltas as Envelope[]).map(idOf);
        messages.push({ link: `${from}>${to}:${message.origin}`, ids });
        for (const id of ids) {
          const key = `${id} ${from}>${to}:${message.origin}`;
          sends.set(key, (sends.get(key) ?? 0) + 1);
        }
      }
      return init;
    },
  });
  const of = (id: string) =>
    [...sends].filter(([k]) => k.startsWith(`${id} `)).map(([k, n]) =>
      `${k.slice(id.length + 1)}${n > 1 ? ` x${n}` : ""}`
    ).sort();
  return { mesh, sends, messages, of };
}

/**
 * The messages that send again on a link a delta it sent before other than as eager forwarding
 * carries it: first, and followed by a delta new to the link (its channel's successor).
 */
function resentNotCarried(messages: readonly { link: string; ids: string[] }[]): string[] {
  const seen = new Map<string, Set<string>>();
  const bad: string[] = [];
  for (const { link, ids } of messages) {
    const before = seen.get(link) ?? new Set<string>();
    seen.set(link, before);
    const firstNew = ids.findIndex((id) => !before.has(id));
    const again = ids.filter((id) => before.has(id));
    if (again.length > 0 && (firstNew < 0 || ids.slice(firstNew).some((id) => before.has(id)))) {
      bad.push(`${link}: ${ids.join(",")}`);
    }
    for (const id of ids) before.add(id);
  }
  return bad;
}

async function warm(mesh: InProcessMesh) {
  for (let i = 0; i < 8; i++) await mesh.tick();
}

Deno.test("review (guard): with forwarding on, a delta takes each hop of the origin rules once and never echoes", async () => {
  const { mesh, of } = recordingMesh();
  await warm(mesh);
  const agent = testAgent(() => mesh.nowMs);
  const x = agent.sign("room", [{ op: "set", key: "k", value: 1 }]);
  assert.equal((await mesh.push("eu-1", [x]))[0].status, "accepted");
  for (let i = 0; i < 12; i++) await mesh.tick();
  assert.deepEqual(of(idOf(x)), [
    "eu-1>eu-2:zone",
    "eu-1>us-1:remote",
    "us-1>us-2:relay",
  ]);
  for (const r of LAYOUT) assert.equal(JSON.parse(await mesh.view(r.id, "room")).deltas, 1);
});

Deno.test("review (guard): a delta pushed to regions of two zones at once crosses each zone pair at most once per direction", async () => {
  const { mesh, sends, messages } = recordingMesh();
  await warm(mesh);
  const agent = testAgent(() => mesh.nowMs);
  for (let n = 0; n < 20; n++) {
    const x = agent.sign("room", [{ op: "inc", counter: "c", by: 1 }]);
    await Promise.all([mesh.push("eu-2", [x]), mesh.push("us-2", [x]), mesh.push("eu-1", [x])]);
  }
  for (let i = 0; i < 12; i++) await mesh.tick();
  // A delta goes again on a link only carried ahead of its channel's next delta, while the
  // message that first carried it is still on its way (eager_forward.ts).
  assert.deepEqual(resentNotCarried(messages), [], "no delta sent twice on a link but carried");
  const perLink = new Map<string, number>();
  for (const [key] of sends) {
    const link = key.split(" ")[1].split(":")[0];
    const id = key.split(" ")[0];
    perLink.set(`${id} ${link}`, (perLink.get(`${id} ${link}`) ?? 0) + 1);
  }
  assert.ok([...perLink.values()].every((n) => n === 1), "one origin per delta per link");
  const views = await Promise.all(LAYOUT.map((r) => mesh.view(r.id, "room")));
  assert.equal(new Set(views).size, 1);
  assert.equal(JSON.parse(views[0]).deltas, 20);
});

Deno.test({
  name: "review: a duplicate push of a delta already stored and relayed must not be relayed again",
  // Was a defect (fixed; this guards it) (duplicates re-relayed): the push route gives ingest no `known`, so a delta the region
  // already stores is verified again, counts as admitted, and `onAdmitted` forwards it to every
  // target before putDeltas answers `duplicate` — once per duplicate push. Anyone may push anyone's
  // signed deltas (a duplicate's author budget is given back), so every retry or replay of stored
  // deltas makes the leader sign and send a region message per target again (the relay-once rule
  // broken; a cross-zone crossing each time), and fills `forwarded` with ids the drain will never
  // meet (evicting real ones). Before 02e30a1 a duplicate push sent nothing between regions.
  async fn() {
    const { mesh, of } = recordingMesh();
    await warm(mesh);
    const x = testAgent(() => mesh.nowMs).sign("room", [{ op: "set", key: "k", value: 1 }]);
    assert.equal((await mesh.push("eu-1", [x]))[0].status, "accepted");
    for (let i = 0; i < 8; i++) await mesh.tick();
    const before = of(idOf(x));
    for (let n = 0; n < 3; n++) {
      assert.equal((await mesh.push("eu-1", [x]))[0].status, "duplicate");
      for (let i = 0; i < 4; i++) await mesh.tick();
    }
    assert.deepEqual(of(idOf(x)), before, "a duplicate push relays nothing");
  },
});

Deno.test("review (guard): with forwarding off, a duplicate push relays nothing", async () => {
  const { mesh, of } = recordingMesh(false);
  await warm(mesh);
  const x = testAgent(() => mesh.nowMs).sign("room", [{ op: "set", key: "k", value: 1 }]);
  assert.equal((await mesh.push("eu-1", [x]))[0].status, "accepted");
  for (let i = 0; i < 8; i++) await mesh.tick();
  const before = of(idOf(x));
  for (let n = 0; n < 3; n++) {
    assert.equal((await mesh.push("eu-1", [x]))[0].status, "duplicate");
    for (let i = 0; i < 4; i++) await mesh.tick();
  }
  assert.deepEqual(of(idOf(x)), before);
});

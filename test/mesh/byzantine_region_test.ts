/**
 * A Byzantine region in the mesh: it holds a valid region key (so its messages pass the
 * region-level checks) but alters deltas it relays, forges deltas of invented authors, and
 * withholds some from fan-out. Authors' signatures are end to end, so the honest regions must
 * reject every altered or forged delta, converge among themselves, and still converge with the
 * Byzantine region on every delta it did not tamper with (anti-entropy fetches the originals).
 */
import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { verifyEd25519 } from "../../src/crypto/mod.ts";
import { parseEnvelope } from "../../src/protocol/envelope.ts";
import { SIGNATURE_HEADER, signRegionMessage } from "../../src/mesh/region_message.ts";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { bodyOf, signBody, testAgent } from "../support/signing.ts";
import { Rng } from "../support/seeded_rng.ts";

const LAYOUT = [
  { id: "eu-1", zone: "eu" },
  { id: "eu-2", zone: "eu" },
  { id: "us-1", zone: "us" },
];
const BYZANTINE = "eu-2";

Deno.test("honest regions reject what a Byzantine region alters or forges and converge on the rest", async () => {
  const rng = new Rng(20261121);
  let altered = 0, forged = 0, withheld = 0;
  const ref: { mesh?: InProcessMesh } = {};
  const mesh = new InProcessMesh(LAYOUT, {
    intercept(from, _to, path, init) {
      if (from !== BYZANTINE || path !== "/v1/peer/deltas") return init;
      const message = JSON.parse(String(init.body));
      message.deltas = (message.deltas as { body: string; sig: string }[]).flatMap((d) => {
        const roll = rng.next();
        if (roll < 0.2) {
          altered++;
          return [{ body: d.body.replace(/"value":(\d+)/, '"value":666'), sig: d.sig }];
        }
        if (roll < 0.3) {
          withheld++;
          return [];
        }
        return [d];
      });
      // A forged delta: an invented author, signed by someone else.
      const victim = AgentKey.generate();
      message.deltas.push(
        signBody(
          AgentKey.generate(),
          JSON.stringify(bodyOf(victim, { channel: "room", ts: ref.mesh!.nowMs })),
        ),
      );
      forged++;
      const key = ref.mesh!.region(BYZANTINE).key;
      const signed = signRegionMessage((b) => key.sign(b), message);
      return {
        ...init,
        body: signed.body,
        headers: {
          ...init.headers as Record<string, string>,
          [SIGNATURE_HEADER]: signed.signature,
        },
      };
    },
  });
  ref.mesh = mesh;
  for (let i = 0; i < 8; i++) await mesh.tick();
  // Agents write everywhere, the Byzantine region included.
  const agents = LAYOUT.map(() => testAgent(() => mesh.nowMs));
  for (let round = 0; round < 6; round++) {
    for (const [i, r] of LAYOUT.entries()) {
      await mesh.push(
        r.id,
        Array.from(
          { length: 10 },
          (_, k) =>
            agents[i].sign("room", [{ op: "set", key: `${r.id}-${k}`, value: round * 10 + k }]),
        ),
      );
    }
    await mesh.tick();
  }
  for (let i = 0; i < 8; i++) await mesh.tick();
  for (let i = 0; i < 3; i++) await mesh.antiEntropy();
  assert.ok(
    altered > 0 && forged > 0 && withheld > 0,
    `altered ${altered}, forged ${forged}, withheld ${withheld}`,
  );

  // Every stored delta in an honest region verifies: nothing altered or forged got in.
  for (const id of ["eu-1", "us-1"]) {
    const page = await mesh.region(id).store.listArrivals("room", 0, 1_000);
    for (const d of page.deltas) {
      const parsed = parseEnvelope({ body: d.body, sig: d.sig }, mesh.nowMs);
      assert.ok(parsed.ok, `${id} stored an invalid delta`);
      assert.ok(
        await verifyEd25519(parsed.publicKey, parsed.signature, parsed.message),
        `${id} stored a forged delta`,
      );
    }
  }
  // All three converge on the 180 genuine deltas (anti-entropy fetched the originals of what
  // the Byzantine region altered or withheld in fan-out).
  const views = await Promise.all(LAYOUT.map((r) => mesh.view(r.id, "room")));
  assert.equal(new Set(views).size, 1, "byte-identical views");
  assert.equal(JSON.parse(views[0]).deltas, 180);
});

import assert from "node:assert/strict";
import { InvalidDeltaError } from "../../src/client/agent.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import {
  CARD_SKILLS_MAX,
  CARD_TAGS_MAX,
  parseAgentCard,
  REGISTRY_CHANNEL,
  registryOpsProblem,
} from "../../src/protocol/agent_card.ts";
import { parseEnvelope } from "../../src/protocol/envelope.ts";
import { DELTA_BODY_BYTES_MAX } from "../../src/protocol/limits.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { signBody, T0_MS, testAgent } from "../support/signing.ts";
import { announce, card, push, withdraw } from "./_cards.ts";

const author = testAgent().key.id;

Deno.test("parseAgentCard() accepts an A2A v1.0 card with the mesh member and its optional parts", () => {
  const full = {
    ...card("Full"),
    provider: { organization: "Example", url: "https://example.org" },
    capabilities: {
      streaming: true,
      pushNotifications: false,
      extendedAgentCard: false,
      extensions: [{ uri: "https://ext.example/v1", required: false, params: { a: [1] } }],
    },
    documentationUrl: "https://example.org/docs",
    iconUrl: "https://example.org/icon.png",
    mesh: { resources: { cpu: 0.5, memoryMb: 512, gpu: 1, specialisation: "ocr" } },
  };
  assert.deepEqual(parseAgentCard(full), { ok: true, card: full });
  assert.equal(parseAgentCard({ ...card("Bare"), mesh: undefined }).ok, true);
});

Deno.test("parseAgentCard() refuses unknown members, bad URLs, repeated skills and too many tags", () => {
  const cases: [string, unknown, RegExp][] = [
    ["unknown member", { ...card("X"), extra: 1 }, /Unrecognized key/],
    ["missing name", { ...card("X"), name: undefined }, /name/],
    ["empty name", { ...card("X"), name: "" }, /name/],
    ["no interface", { ...card("X"), supportedInterfaces: [] }, /supportedInterfaces/],
    [
      "ftp url",
      { ...card("X"), documentationUrl: "ftp://example.org/x" },
      /absolute http or https URL/,
    ],
    [
      "unknown skill member",
      { ...card("X"), skills: [{ ...card("X").skills[0], level: 3 }] },
      /Unrecognized key/,
    ],
    [
      "repeated skill id",
      { ...card("X"), skills: [card("X").skills[0], card("X").skills[0]] },
      /skill ids must be distinct/,
    ],
    [
      "too many skills",
      card(
        "X",
        Object.fromEntries(Array.from({ length: CARD_SKILLS_MAX + 1 }, (_, i) => [`s${i}`, []])),
      ),
      /skills/,
    ],
    [
      "too many tags",
      card(
        "X",
        Object.fromEntries(
          Array.from(
            { length: 5 },
            (_, s) => [`s${s}`, Array.from({ length: 14 }, (_, t) => `t${s}-${t}`)],
          ),
        ),
      ),
      new RegExp(`at most ${CARD_TAGS_MAX} distinct tags`),
    ],
    ["bad home region", { ...card("X"), mesh: { homeRegions: ["EU 1"] } }, /region id/],
    ["NUL in a name", { ...card("X"), name: "a\u0000b" }, /NUL/],
    ["cpu zero", { ...card("X"), mesh: { resources: { cpu: 0 } } }, /cpu/],
  ];
  for (const [what, value, detail] of cases) {
    const parsed = parseAgentCard(value);
    assert.equal(parsed.ok, false, what);
    assert.match((parsed as { detail: string }).detail, detail, what);
  }
});

Deno.test("registryOpsProblem() allows one set or del keyed by the author, nothing else", () => {
  const value = card("A");
  assert.equal(registryOpsProblem(author, [{ op: "set", key: author, value }]), null);
  assert.equal(registryOpsProblem(author, [{ op: "del", key: author }]), null);
  const other = testAgent().key.id;
  const problems: [string, Parameters<typeof registryOpsProblem>[1], RegExp][] = [
    ["forged key", [{ op: "set", key: other, value }], /key must be the delta's author/],
    ["forged withdrawal", [{ op: "del", key: other }], /key must be the delta's author/],
    ["two ops", [{ op: "del", key: author }, { op: "del", key: author }], /exactly one op/],
    ["add op", [{ op: "add", set: author, elem: "x" }], /only set \(announce\) and del/],
    ["inc op", [{ op: "inc", counter: author, by: 1 }], /only set/],
    ["bad card", [{ op: "set", key: author, value: { name: "x" } }], /card /],
    ["not a card", [{ op: "set", key: author, value: 7 }], /card /],
  ];
  for (const [what, ops, detail] of problems) {
    assert.match(registryOpsProblem(author, ops) ?? "", detail, what);
  }
});

Deno.test("parseEnvelope() rejects a bad _registry delta as bad_card, and the SDK refuses to sign it", () => {
  const agent = testAgent();
  const forged = signBody(
    agent.key,
    JSON.stringify({
      v: 1,
      author: agent.key.id,
      seq: 1,
      channel: REGISTRY_CHANNEL,
      ts: T0_MS,
      lc: 0,
      ops: [{ op: "set", key: author, value: card("Forged") }],
    }),
  );
  const parsed = parseEnvelope(forged, T0_MS);
  assert.equal(parsed.ok, false);
  assert.equal((parsed as { reason: string }).reason, "bad_card");
  assert.throws(
    () => agent.sign(REGISTRY_CHANNEL, [{ op: "set", key: author, value: card("F") }]),
    (e) => e instanceof InvalidDeltaError && e.reason === "bad_card",
  );
  assert.equal(parseEnvelope(announce(agent, card("Own")), T0_MS).ok, true);
});

Deno.test("a card delta larger than DELTA_BODY_BYTES_MAX is body_too_large, whatever the card limits allow", () => {
  const agent = testAgent();
  const big = card(
    "Big",
    Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`skill-${i}`, ["t"]])),
    "d".repeat(2_000),
  );
  for (const skill of big.skills) skill.description = "x".repeat(1_500);
  const body = JSON.stringify({
    v: 1,
    author: agent.key.id,
    seq: 1,
    channel: REGISTRY_CHANNEL,
    ts: T0_MS,
    lc: 0,
    ops: [{ op: "set", key: agent.key.id, value: big }],
  });
  assert.ok(body.length > DELTA_BODY_BYTES_MAX);
  const parsed = parseEnvelope(signBody(agent.key, body), T0_MS);
  assert.equal((parsed as { reason: string }).reason, "body_too_large");
});

Deno.test("POST /v1/deltas answers bad_card for a forged or malformed card and stores nothing", async () => {
  const store = new MemoryStore();
  const app = meshRegionApp({ region: "r", store, now: () => T0_MS });
  const liar = testAgent(), victim = testAgent();
  const forgedBody = (ops: unknown[]) =>
    signBody(
      liar.key,
      JSON.stringify({
        v: 1,
        author: liar.key.id,
        seq: 1,
        channel: REGISTRY_CHANNEL,
        ts: T0_MS,
        lc: 0,
        ops,
      }),
    );
  const results = await push(app, [
    forgedBody([{ op: "set", key: victim.key.id, value: card("Victim") }]),
    forgedBody([{ op: "del", key: victim.key.id }]),
    forgedBody([{ op: "set", key: liar.key.id, value: { ...card("L"), extra: true } }]),
    forgedBody([{ op: "set", key: liar.key.id, value: card("L") }, {
      op: "del",
      key: liar.key.id,
    }]),
  ]);
  assert.deepEqual(results.map((r) => r.reason), ["bad_card", "bad_card", "bad_card", "bad_card"]);
  assert.equal((await store.listArrivals(REGISTRY_CHANNEL, 0, 10)).deltas.length, 0);
  const ok = await push(app, [announce(victim, card("Victim")), withdraw(victim)]);
  assert.deepEqual(ok.map((r) => r.status), ["accepted", "accepted"]);
});

/**
 * The registry from the agent's side against a real region process: the CLI's announce,
 * discover, card and withdraw, and the SDK's `card()` refusing an answer altered on the way
 * (a fetch wrapper, and a proxy in front of the region for the CLI).
 */
import assert from "node:assert/strict";
import { Agent } from "../../src/client/agent.ts";
import { CardVerificationError } from "../../src/client/agent_card_answer.ts";
import { MeshClient } from "../../src/client/mesh_client.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { freePort, runDeno, startRegionProcess } from "../support/region_process.ts";
import { card } from "../registry/_cards.ts";

const CLI = "src/client/cli.ts";

async function withRegion(
  fn: (url: string, dir: string, cli: (...args: string[]) => ReturnType<typeof runDeno>) => Promise<
    void
  >,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mesh-registry-cli-" });
  const region = await startRegionProcess({ MESH_DATA: `${dir}/region`, MESH_REGION: "eu-1" });
  const env = { MESH_URL: region.url, MESH_AGENT_KEY: `${dir}/agent.key.json` };
  try {
    await fn(region.url, dir, (...args) => runDeno(CLI, args, env));
  } finally {
    await region.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("agent CLI announce → discover by skill, tag and text → card verifies → withdraw", async () => {
  await withRegion(async (url, dir, cli) => {
    assert.equal((await cli("keygen")).code, 0);
    const key = await AgentKey.load(`${dir}/agent.key.json`);
    const mine = card(
      "Translator",
      { translate: ["Language", "french"] },
      "turns English into French",
    );
    await Deno.writeTextFile(`${dir}/card.json`, JSON.stringify(mine));
    // Another agent, so that each query has something to leave out.
    await new Agent(AgentKey.generate()).announce(
      new MeshClient(url),
      card("Vision", { ocr: ["image"] }, "reads scanned pages"),
    );

    const announced = await cli("announce", `${dir}/card.json`);
    assert.equal(announced.code, 0, announced.stderr);
    assert.equal(JSON.parse(announced.stdout).status, "accepted");

    for (
      const query of [
        ["--skill", "translate"],
        ["--tag", "LANGUAGE", "--tag", "french"],
        ["--q", "english french"],
        ["--skill", "translate", "--tag", "french", "--q", "english", "--limit", "5"],
      ]
    ) {
      const found = await cli("discover", ...query);
      assert.equal(found.code, 0, found.stderr);
      const lines = found.stdout.trim().split("\n");
      assert.equal(lines.length, 1, `${query.join(" ")}: ${found.stdout}`);
      assert.match(lines[0], new RegExp(`^${key.id}  Translator 1\\.0\\.0  skills: translate  `));
      assert.match(lines[0], /seen .* in eu-1$/);
      assert.match(found.stderr, /^1 agent\(s\); no more pages\n$/);
    }
    const paged = await cli("discover", "--limit", "1");
    assert.equal(paged.stdout.trim().split("\n").length, 1);
    const cursor = paged.stderr.match(/more with --cursor (\S+)/)?.[1];
    assert.ok(cursor !== undefined, paged.stderr);
    const next = await cli("discover", "--limit", "1", "--cursor", cursor);
    assert.equal(next.code, 0, next.stderr);
    assert.notEqual(next.stdout, paged.stdout);

    const shown = await cli("card", key.id);
    assert.equal(shown.code, 0, shown.stderr);
    assert.deepEqual(JSON.parse(shown.stdout), mine);
    assert.match(shown.stderr, new RegExp(`^verified: signed by ${key.id} \\(seq 1, `));

    const withdrawn = await cli("withdraw");
    assert.equal(withdrawn.code, 0, withdrawn.stderr);
    assert.equal((await cli("discover", "--skill", "translate")).stdout, "");
    const gone = await cli("card", key.id);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /holds no card for/);
    const state = JSON.parse(await Deno.readTextFile(`${dir}/agent.key.seq.json`));
    assert.deepEqual(state.lastSeq, { _registry: 2 });
  });
});

Deno.test("MeshClient.card() against a region process refuses a card altered by a fetch wrapper", async () => {
  await withRegion(async (url) => {
    const agent = new Agent(AgentKey.generate());
    await agent.announce(new MeshClient(url), card("Honest", { pay: ["finance"] }));
    assert.equal((await new MeshClient(url).card(agent.key.id))?.card.name, "Honest");
    const altering = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const response = await fetch(input, init);
      const json = await response.json();
      json.supportedInterfaces[0].url = "https://attacker.example/a2a";
      return new Response(JSON.stringify(json), { status: response.status });
    }) as typeof fetch;
    await assert.rejects(
      new MeshClient(url, { fetch: altering }).card(agent.key.id),
      (e) => e instanceof CardVerificationError && e.problem === "card_mismatch",
    );
  });
});

Deno.test("agent CLI card says the signature does not verify when a proxy alters the card", async () => {
  await withRegion(async (url, dir, cli) => {
    assert.equal((await cli("keygen")).code, 0);
    const key = await AgentKey.load(`${dir}/agent.key.json`);
    await Deno.writeTextFile(`${dir}/card.json`, JSON.stringify(card("Honest")));
    assert.equal((await cli("announce", `${dir}/card.json`)).code, 0);
    const proxy = Deno.serve(
      { port: freePort(), hostname: "127.0.0.1", onListen() {} },
      async (req) => {
        const { pathname, search } = new URL(req.url);
        const json = await (await fetch(url + pathname + search)).json();
        json.description = "Now with a different promise";
        return Response.json(json);
      },
    );
    try {
      const proxied = await runDeno(CLI, [
        "card",
        key.id,
        "--url",
        `http://127.0.0.1:${proxy.addr.port}`,
      ]);
      assert.equal(proxied.code, 1);
      assert.equal(proxied.stdout, "");
      assert.match(
        proxied.stderr,
        /^The signature does not verify: .* \(card_mismatch\)\. Do not trust it/,
      );
      assert.equal(proxied.stderr.trim().split("\n").length, 1);
    } finally {
      await proxy.shutdown();
    }
  });
});

Deno.test("agent CLI registry commands: help exits 0, usage errors exit 2, a bad card costs no seq", async () => {
  await withRegion(async (_url, dir, cli) => {
    for (const command of ["announce", "withdraw", "discover", "card"]) {
      const help = await cli(command, "--help");
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, new RegExp(`^Usage: deno task agent ${command}`));
    }
    const example = (await cli("announce", "--help")).stdout;
    const start = example.indexOf("\n  {") + 1, end = example.indexOf("\n  }") + 4;
    await Deno.writeTextFile(`${dir}/example.json`, example.slice(start, end));
    const usage = [
      [
        ["announce"],
        /^error: announce needs a card file \(JSON\)\nRun `deno task agent announce --help`/,
      ],
      [["card"], /^error: card needs an agent id\n/],
      [["card", "nope"], /^error: "nope" is not an agent id/],
      [["discover", "--limit", "0"], /^error: --limit must be an integer from 1 to 100/],
      [["discover", "--tag"], /^error: --tag needs a value/],
      [["discover", "x"], /^error: discover takes options only/],
    ] as const;
    for (const [args, pattern] of usage) {
      const run = await cli(...args);
      assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
      assert.match(run.stderr, pattern);
      assert.equal(run.stderr.trim().split("\n").length, 2);
    }
    assert.equal((await cli("keygen")).code, 0);
    await Deno.writeTextFile(`${dir}/bad.json`, JSON.stringify({ ...card("Bad"), skills: 3 }));
    const bad = await cli("announce", `${dir}/bad.json`);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /would refuse this delta \(bad_card\).*no seq was used/);
    const notJson = await cli("announce", `${dir}/card.json`);
    assert.equal(notJson.code, 1);
    assert.match(notJson.stderr, /^Cannot announce as there is no card file at /);
    const good = await cli("announce", `${dir}/example.json`);
    assert.equal(good.code, 0, `the --help example is a valid card: ${good.stderr}`);
    assert.equal(JSON.parse(good.stdout).status, "accepted");
    const key = await AgentKey.load(`${dir}/agent.key.json`);
    const head = await new MeshClient(_url).head("_registry", key.id);
    assert.equal(head.max, 1, "the refused card used no seq");
  });
});

Deno.test("agent CLI discover: a region that is down is one sentence with a hint", async () => {
  const run = await runDeno(CLI, ["discover", "--url", `http://127.0.0.1:${freePort()}`]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /^Cannot reach the region at .*--url \/ MESH_URL/);
  assert.equal(run.stderr.trim().split("\n").length, 1);
});

/**
 * `deno task example`: a small swarm on two real regions, narrated step by step.
 *
 * A planner on eu-1 finds a translator by skill (announced on us-1), hands it a task in an
 * encrypted direct message, follows its progress on a topic, fetches the result blob it put on
 * the other region (checking its hash), and asks three reviewers to vote on accepting it; every
 * region decides the same outcome and announces it. Everything goes through the agent SDK
 * (src/client/mod.ts) over HTTP, as any agent would.
 */
import {
  Agent,
  type AgentCard,
  AgentKey,
  MeshClient,
  openDirectMessage,
  sealDirectMessage,
  signAck,
  signProposal,
  signTopicMessage,
  signVote,
  verifyProposalAnswer,
  verifyTopicEvent,
} from "../src/client/mod.ts";
import { startTwoRegions } from "./_two_regions.ts";

const started = performance.now();
function say(step: string, line: string): void {
  const t = ((performance.now() - started) / 1000).toFixed(1).padStart(5);
  console.log(`[${t}s] ${step.padEnd(10)} ${line}`);
}
const short = (id: string) => id.slice(0, 8);

function card(name: string, skill: string, description: string): AgentCard {
  return {
    name,
    description,
    version: "1.0.0",
    supportedInterfaces: [{ url: "https://agents.example/a2a", protocolBinding: "JSONRPC" }],
    defaultInputModes: ["text/plain"],
    defaultOutputModes: ["text/plain"],
    skills: [{ id: skill, name: skill, description, tags: [skill, "example"] }],
  };
}

async function until<T>(what: string, get: () => Promise<T | null>, timeoutMs = 30_000) {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    const value = await get().catch(() => null);
    if (value !== null) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

say("regions", "starting eu-1 (zone eu) and us-1 (zone us), each its own process and store ...");
const mesh = await startTwoRegions();
try {
  const [eu, us] = mesh.regions.map((r) => new MeshClient(r.url));
  for (const r of mesh.regions) say("regions", `${r.id} is up at ${r.url}, leader elected`);

  // 1. Agents announce cards with their skills, each to its own region.
  const planner = new Agent(AgentKey.generate());
  const translator = new Agent(AgentKey.generate());
  const reviewers = [0, 1, 2].map(() => new Agent(AgentKey.generate()));
  await planner.announce(eu, card("Planner", "plan", "Splits work and hands it out"));
  await translator.announce(us, card("Translator", "translate", "Translates English to French"));
  for (const [i, r] of reviewers.entries()) {
    await r.announce(i === 2 ? us : eu, card(`Reviewer ${i + 1}`, "review", "Reviews results"));
  }
  say("announce", `planner ${short(planner.key.id)} on eu-1, translator on us-1, 3 reviewers`);

  // 2. The planner discovers a translator by skill, from its own region (the registry is global).
  const found = await until("a translator in eu-1's registry", async () => {
    const page = await eu.discover({ skill: "translate" });
    return page.agents.length > 0 ? page.agents[0] : null;
  });
  const verified = await eu.card(found.id);
  say(
    "discover",
    `eu-1 lists ${found.card.name} ${short(found.id)} (skill translate), card verified: ${
      verified !== null
    }`,
  );

  // 3. The task goes as an encrypted direct message: regions carry only ciphertext.
  const taskId = `t${Date.now().toString(36)}`;
  const task = { task: taskId, kind: "translate", text: "The mesh decided." };
  await eu.send([await sealDirectMessage(planner, found.id, task)]);
  say("send", `planner → translator: task ${taskId} sealed with HPKE, sent to eu-1`);

  // The planner follows the task's progress topic on eu-1 while the translator works on us-1.
  const stop = new AbortController();
  const progress: unknown[] = [];
  const following = (async () => {
    for await (
      const m of eu.subscribe(`tasks.${taskId}.>`, {
        since: Date.now() - 1_000,
        signal: stop.signal,
      })
    ) {
      await verifyTopicEvent(m);
      progress.push(m.data);
      say(
        "topic",
        `eu-1 delivers ${m.topic}: ${JSON.stringify(m.data)} (signed by ${short(m.author)})`,
      );
      if ((m.data as { state?: string }).state === "done") return;
    }
  })();

  // 4. The translator reads its inbox on us-1 (a signed request), opens the message, acks it.
  const inbox = await until("the task in the translator's inbox on us-1", async () => {
    const page = await us.inbox(translator.key);
    return page.messages.length > 0 ? page : null;
  });
  const opened = await openDirectMessage(translator.key, inbox.messages[0]);
  await us.ack(translator.key, [await signAck(translator, [opened.id])]);
  say(
    "inbox",
    `translator on us-1 opens ${JSON.stringify(opened.payload)} from ${
      short(opened.from)
    }, acks it`,
  );
  const publish = async (state: string, extra: Record<string, unknown> = {}) => {
    const topic = `tasks.${taskId}.progress`;
    await us.publish(topic, [await signTopicMessage(translator, topic, { state, ...extra })]);
  };
  await publish("started");
  const text = `${(opened.payload as { text: string }).text} → Le maillage a décidé.`;
  await publish("working", { percent: 50 });

  // 5. The result goes up as a content-addressed blob on us-1, with signed metadata.
  const result = new TextEncoder().encode(text);
  const put = await us.putBlob(translator, result, {
    name: `${taskId}.txt`,
    type: "text/plain; charset=utf-8",
    tags: [taskId],
  });
  const sha = put.sha256;
  say(
    "blob",
    `translator puts the result on us-1: ${result.length} bytes, sha256 ${sha.slice(0, 16)}…`,
  );
  await publish("done", { blob: sha });
  await following;
  stop.abort();

  // 6. The planner fetches the blob from eu-1 (which pulls it from us-1) and checks its hash.
  // eu-1 pulls a blob from its peers once the signed `_blobs` entry naming it has reached it.
  const fetched = await until("the blob from eu-1", () => eu.getBlob(sha));
  say("blob", `planner fetches it from eu-1, hash checked: "${new TextDecoder().decode(fetched)}"`);

  // 7. A proposal to accept it; the electorate is every agent with skill "review" (3).
  await new Promise((r) => setTimeout(r, 20)); // cards strictly before the proposal's ts
  const { id, envelope } = await signProposal(planner, {
    title: `Accept the translation of ${taskId}?`,
    body: `Result blob ${sha}`,
    options: ["accept", "reject"],
    deadline: Date.now() + 3_000,
    grace: 1_000,
    eligible: { skill: "review" },
  });
  await eu.push([envelope]);
  say("propose", `planner proposes ${short(id)}: accept or reject, voting closes in 3 s + 1 s`);
  const proposal = await until("the proposal on us-1", async () => {
    const answer = await us.proposal(id, { votesLimit: 0 });
    return (await verifyProposalAnswer(answer)) ? answer : null;
  });
  const choices = ["accept", "accept", "reject"];
  for (const [i, reviewer] of reviewers.entries()) {
    const client = i === 1 ? us : eu;
    await client.push([await signVote(reviewer, proposal, choices[i])]);
    say("vote", `reviewer ${i + 1} votes ${choices[i]} on ${i === 1 ? "us-1" : "eu-1"}`);
  }

  // 8. After the deadline, the grace and a 5 s margin, both regions report the same outcome.
  say("tally", "waiting for the close (deadline + grace + 5 s margin) ...");
  const decided = await until("decided everywhere", async () => {
    const both = await Promise.all([eu, us].map((c) => c.proposal(id, { votesLimit: 10 })));
    return both.every((p) => p.state === "decided") ? both : null;
  });
  for (const [i, p] of decided.entries()) {
    const weights = p.tally.options.map((o) => `${o.option} ${o.weight}`).join(", ");
    say(
      "tally",
      `${
        mesh.regions[i].id
      }: ${p.outcome} (${weights}; ${p.tally.needed} of ${p.tally.eligible.weight} needed)`,
    );
  }
  if (decided[0].outcome !== decided[1].outcome) throw new Error("the regions disagree");
  const announced = await until("outcome announcements", async () => {
    const page = await eu.messages("mesh.proposals", { since: 0, limit: 100 });
    const outcomes = page.messages.filter((m) => (m.data as { proposal?: string }).proposal === id);
    return outcomes.length === 2 ? outcomes : null;
  });
  for (const m of announced) {
    const d = m.data as { region: string; outcome: string };
    say(
      "announce",
      `mesh.proposals: region ${d.region} announces "${d.outcome}" (signed by its region key)`,
    );
  }
  say(
    "done",
    `the swarm accepted the translation of ${taskId}; ${progress.length} progress events seen`,
  );
} finally {
  await mesh.stop();
}

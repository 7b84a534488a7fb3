/**
 * The agent CLI's proposal commands (docs/protocol.md §24): `propose <title> --option A --option
 * B ...`, `vote <proposal-id> <option>`, `proposal <id>` and `proposals [--state S]`. Proposals
 * and ballots are deltas: their seqs come from the key's seq-state file, like `push`.
 */
import type { AgentKey } from "../crypto/agent_key.ts";
import { ID_PATTERN } from "../protocol/delta.ts";
import {
  type Eligibility,
  PROPOSAL_THRESHOLD_DEN_MAX,
  PROPOSALS_CHANNEL,
  votesChannel,
  type Weights,
} from "../protocol/proposal.ts";
import { CHANNEL_PATTERN } from "../protocol/limits.ts";
import { CliError, type Flags, keyIfAny, limitWithin } from "./_cli_common.ts";
import { resumeSigned, signAndSend } from "./_cli_messaging.ts";
import { UsageError } from "./_cli_ops.ts";
import { MeshClient, MeshHttpError } from "./mesh_client.ts";
import { signTopicMessage } from "./messaging.ts";
import {
  type ProposalAnswer,
  type ProposalInput,
  signProposal,
  signVote,
  verifyProposalAnswer,
} from "./proposal_client.ts";

/** The topic proposals and outcomes are announced on (§24.7). */
export const PROPOSALS_TOPIC = "mesh.proposals";

const route = { path: "/v1/deltas", field: "deltas", what: "delta" } as const;

export function propose(flags: Flags): Promise<number> {
  const [title, ...extra] = flags.rest;
  if (title === undefined) throw new UsageError("propose needs a title (quote it)");
  if (extra.length > 0) throw new UsageError("propose takes one title: quote it");
  if (flags.options.length < 2) {
    throw new UsageError(
      "propose needs at least two --option values, e.g. --option yes --option no",
    );
  }
  const input: ProposalInput = {
    title,
    ...(flags.body === undefined ? {} : { body: flags.body }),
    options: flags.options,
    deadline: deadlineOf(flags.deadline),
    ...(flags.grace === undefined ? {} : { grace: flags.grace }),
    eligible: eligibleOf(flags),
    ...(flags.weights === undefined ? {} : { weights: weightsOf(flags.weights) }),
    ...(flags.threshold === undefined ? {} : { threshold: thresholdOf(flags.threshold) }),
  };
  return signAndSend(flags, "propose", route, async (agent, client) => {
    await agent.resumeFrom(client, PROPOSALS_CHANNEL);
    const { id, envelope } = await signProposal(agent, input);
    return {
      envelopes: [envelope],
      results: async () => {
        const results = await client.push([envelope]);
        if (results[0].status === "accepted") {
          console.error(`proposal ${id}: vote with \`deno task agent vote ${id} <option>\``);
          await announce(agent, client, { event: "proposal", id, title, options: input.options });
        }
        return results;
      },
    };
  });
}

/** Announces the new proposal on `mesh.proposals`; a refusal is reported, not fatal. */
async function announce(
  agent: Parameters<typeof signTopicMessage>[0],
  client: MeshClient,
  data: Record<string, unknown>,
): Promise<void> {
  try {
    await resumeSigned(agent, client, `_topic:${PROPOSALS_TOPIC}`);
    const [result] = await client.publish(PROPOSALS_TOPIC, [
      await signTopicMessage(agent, PROPOSALS_TOPIC, data),
    ]);
    if (result.status === "rejected") {
      console.error(`(not announced on ${PROPOSALS_TOPIC}: ${result.reason})`);
    }
  } catch (error) {
    console.error(`(not announced on ${PROPOSALS_TOPIC}: ${(error as Error).message})`);
  }
}

export function vote(flags: Flags): Promise<number> {
  const [id, option, ...extra] = flags.rest;
  if (id === undefined || option === undefined) {
    throw new UsageError("vote needs a proposal id and an option");
  }
  if (extra.length > 0) throw new UsageError("vote takes one proposal id and one option");
  checkId(id);
  return signAndSend(flags, "vote", route, async (agent, client) => {
    const proposal = await ballotTerms(client, id, flags.url, agent.key);
    if (!proposal.options.includes(option)) {
      throw new UsageError(
        `${JSON.stringify(option)} is not an option of this proposal: choose one of ` +
          proposal.options.map((o) => JSON.stringify(o)).join(", "),
      );
    }
    if (Date.now() > proposal.closes) {
      throw new CliError(
        `Proposal ${id} closed at ${new Date(proposal.closes).toISOString()}: regions refuse ` +
          "ballots from agents after its deadline plus grace.",
      );
    }
    await agent.resumeFrom(client, votesChannel(id));
    const envelope = await signVote(agent, proposal, option);
    return { envelopes: [envelope], results: () => client.push([envelope]) };
  });
}

export async function proposal(flags: Flags): Promise<number> {
  const [id, ...extra] = flags.rest;
  if (id === undefined) throw new UsageError("proposal needs a proposal id");
  if (extra.length > 0) throw new UsageError("proposal takes one proposal id");
  checkId(id);
  if (flags.votes !== undefined && flags.votes > 1_000) {
    throw new UsageError(`--votes must be 0 to 1000, got ${flags.votes}`);
  }
  const client = new MeshClient(flags.url);
  const key = await keyIfAny(flags.key, "sign the read");
  const answer = await fetchProposal(client, id, flags.url, flags.votes ?? 20, key);
  console.log(JSON.stringify(answer, null, 2));
  const t = answer.tally;
  const figures = t.options.map((o) => `${o.option} ${o.weight}`).join(", ");
  console.error(
    `verified: signed by ${answer.author}. ${answer.state}` +
      (answer.outcome === null ? "" : `: ${answer.outcome}`) +
      ` (${figures}; ${t.needed} of ${t.eligible.weight} needed; ${t.voters} voter(s))`,
  );
  return 0;
}

export async function proposals(flags: Flags): Promise<number> {
  if (flags.rest.length > 0) throw new UsageError("proposals takes no arguments");
  const states = ["open", "closing", "decided", "void", "all"] as const;
  const state = flags.state ?? "all";
  if (!(states as readonly string[]).includes(state)) {
    throw new UsageError(`--state must be one of ${states.join(", ")}, got ${state}`);
  }
  const page = await new MeshClient(flags.url).proposals({
    state: state as typeof states[number],
    limit: limitWithin(flags, 100),
    cursor: flags.cursor,
    key: await keyIfAny(flags.key, "sign the read"),
  });
  for (const p of page.proposals) {
    const outcome = p.outcome === null ? "" : ` → ${p.outcome}`;
    const closes = new Date(p.closes).toISOString();
    console.log(`${p.id}  ${p.state}${outcome}  closes ${closes}  ${JSON.stringify(p.title)}`);
  }
  console.error(
    page.cursor === null
      ? `${page.proposals.length} proposal(s)`
      : `${page.proposals.length} proposal(s); more with --cursor ${page.cursor}`,
  );
  return 0;
}

async function fetchProposal(
  client: MeshClient,
  id: string,
  url: string,
  votesLimit = 0,
  key?: AgentKey,
): Promise<ProposalAnswer> {
  let answer: ProposalAnswer;
  try {
    answer = await client.proposal(id, { votesLimit, key });
  } catch (error) {
    if (error instanceof MeshHttpError && error.status === 404) {
      throw new CliError(
        `The region at ${url} holds no proposal ${id}: check the id, or wait until it arrives.`,
      );
    }
    if (error instanceof MeshHttpError && (error.status === 401 || error.status === 403)) {
      throw new PrivateTallyError(
        `Proposal ${id} is weighted by activity in a members-only channel: the region serves it ` +
          "only to that channel's members (docs/protocol.md §24.5). Use --key with a member's key.",
      );
    }
    throw error;
  }
  if (!(await verifyProposalAnswer(answer))) {
    throw new CliError(
      `The proposal the region at ${url} gave for ${id} does not match its signed envelope. ` +
        "Do not trust it; ask another region.",
    );
  }
  return answer;
}

/**
 * What a ballot needs of proposal `id`: the region's verified answer, or — when the tally is
 * private to a members-only channel the voter is not a member of (§24.5) — the proposal as its
 * author signed it, from the open fetch route.
 */
async function ballotTerms(
  client: MeshClient,
  id: string,
  url: string,
  key: AgentKey,
): Promise<
  { id: string; options: readonly string[]; deadline: number; grace: number; closes: number }
> {
  try {
    return await fetchProposal(client, id, url, 0, key);
  } catch (error) {
    if (!(error instanceof PrivateTallyError)) throw error;
    const signed = await client.signedProposal(id);
    if (signed === null) throw error;
    return { ...signed, closes: signed.deadline + signed.grace };
  }
}

/** The region serves proposal `id` only to the members of its activity channel (§24.5). */
class PrivateTallyError extends CliError {}

function checkId(id: string): void {
  if (!ID_PATTERN.test(id)) {
    throw new UsageError(`${JSON.stringify(id)} is not a proposal id (43 base64url characters)`);
  }
}

/** `--deadline`: ms since the epoch, an ISO time, or a delay from now such as 90s, 10m, 2h, 1d. */
export function deadlineOf(word: string | undefined): number {
  if (word === undefined) throw new UsageError("propose needs --deadline, e.g. --deadline 10m");
  const delay = /^([0-9]{1,6})(s|m|h|d)$/.exec(word);
  if (delay !== null) {
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[delay[2] as "s"];
    return Date.now() + Number(delay[1]) * unit;
  }
  if (/^[0-9]{1,16}$/.test(word)) return Number(word);
  const at = Date.parse(word);
  if (Number.isNaN(at)) {
    throw new UsageError(
      `--deadline must be a delay (90s, 10m, 2h, 1d), ms since the epoch or an ISO time, got ${word}`,
    );
  }
  return at;
}

function eligibleOf(flags: Flags): Eligibility {
  if (flags.tags.length > 1) throw new UsageError("propose takes at most one --tag");
  const tag = flags.tags[0];
  if (flags.agents !== undefined) {
    if (flags.skill !== undefined || tag !== undefined) {
      throw new UsageError("give --agents, or --skill and/or --tag, not both");
    }
    const agents = flags.agents.split(",").map((a) => a.trim()).filter((a) => a !== "");
    for (const a of agents) checkId(a);
    return { agents };
  }
  if (flags.skill !== undefined) {
    return tag === undefined ? { skill: flags.skill } : { skill: flags.skill, tag };
  }
  if (tag !== undefined) return { tag };
  throw new UsageError(
    "propose needs the electorate: --agents ID,ID,... or --skill S and/or --tag T (agents whose " +
      "card listed it before the proposal)",
  );
}

function weightsOf(word: string): Weights {
  if (word === "equal") return "equal";
  const channel = /^activity:(.+)$/.exec(word)?.[1];
  if (channel !== undefined && CHANNEL_PATTERN.test(channel)) return { activity: channel };
  throw new UsageError(`--weights must be equal or activity:<channel>, got ${word}`);
}

function thresholdOf(word: string): [number, number] {
  const match = /^([0-9]{1,4})\/([0-9]{1,4})$/.exec(word);
  const [num, den] = match === null ? [NaN, NaN] : [Number(match[1]), Number(match[2])];
  if (!(den >= 1 && den <= PROPOSAL_THRESHOLD_DEN_MAX && 2 * num > den && num <= den)) {
    throw new UsageError(
      `--threshold must be a fraction num/den above 1/2 and at most 1 (den ≤ ${PROPOSAL_THRESHOLD_DEN_MAX}), got ${word}`,
    );
  }
  return [num, den];
}

/**
 * Who may read a proposal's tally (docs/protocol.md §24.5): a proposal weighted by activity in a
 * members-only channel or topic (§19.3) has a tally that tells how many deltas each listed agent
 * wrote there — which that channel's own reads answer only to its members — so the proposal, its
 * tally and its outcome are served only to those members, like the channel itself. Decided at
 * read time from the admission file, never at ingest: every region stores and tallies the same
 * proposals alike (convergence), and only what each serves to whom follows its file.
 */
import type { Proposal } from "../protocol/proposal.ts";
import type { AdmissionPolicy } from "../guard/admission.ts";
import { membersOnly, readName } from "../guard/read_access.ts";

/**
 * The members-only channel (or `_topic:` channel) whose members alone may read `proposal`'s
 * tally, or null when anyone may: its activity channel, when that channel's rule says
 * `read: members`.
 */
export function tallyPrivateTo(
  proposal: Pick<Proposal, "weights">,
  admission: AdmissionPolicy | undefined,
): string | null {
  const { weights } = proposal;
  if (weights === "equal") return null;
  return membersOnly(admission, readName(weights.activity)) ? weights.activity : null;
}

/**
 * Whether a reader allowed `may` (a test of `readName`s, `readerOf` in src/guard/) may read
 * `proposal`.
 */
export function mayReadTally(
  proposal: Pick<Proposal, "weights">,
  admission: AdmissionPolicy | undefined,
  may: (name: string | null) => boolean,
): boolean {
  const channel = tallyPrivateTo(proposal, admission);
  return channel === null || may(readName(channel));
}

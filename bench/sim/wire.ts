/**
 * Sizes of what the real code sends, from the same JSON shapes (region-message heads from the
 * real `messageHead` and `answerHead`, envelopes as `envelopeBatches` sizes them), and one
 * request/answer exchange over the simulated network with the sender's timeout.
 */
import { answerHead, messageHead } from "../../src/mesh/region_message.ts";
import { T0_MS } from "../../test/support/signing.ts";
import { FAILED, type MessageKind } from "./network.ts";
import { AGENT_LINK_MS } from "./scenario.ts";
import type { World } from "./world.ts";

/** Bytes of a JSON object's text without its closing brace (the fields after it are added). */
function headBytes(fields: Record<string, unknown>): number {
  return JSON.stringify(fields).length - 1;
}

const REQUEST_HEAD_BYTES = headBytes(messageHead("heartbeat", "eu-10", "us-10", 1, T0_MS));
const ANSWER_HEAD_BYTES = headBytes({
  ...answerHead(messageHead("deltas", "eu-10", "us-10", 1, T0_MS), "{}"),
});
/** `{"id":"<43>","status":"accepted"},` */
const RESULT_BYTES = JSON.stringify({ id: "x".repeat(43), status: "accepted" }).length + 1;
/** A 16-byte id prefix in a fetch request: `"<22>",`. */
const FETCH_ID_BYTES = 22 + 3;
/** A summary with an empty reachable list, and what each region id adds to it. */
const SUMMARY_BYTES = JSON.stringify({
  region: "eu-10",
  epoch: 1,
  logHead: 1_000_000,
  deltas: 1_000_000,
  fingerprint: "x".repeat(22),
  reachable: [],
  partition: "majority",
}).length;

/** `/v1/peer/deltas` request carrying deltas of these envelope sizes. */
export function deltasRequestBytes(world: World, deltas: ArrayLike<number>): number {
  let bytes = REQUEST_HEAD_BYTES + `,"origin":"remote","deltas":[]}`.length;
  for (let i = 0; i < deltas.length; i++) bytes += world.pool.wire[deltas[i]] + 1;
  return bytes;
}

/** Its answer: one result per delta. */
export function deltasAnswerBytes(count: number): number {
  return ANSWER_HEAD_BYTES + `,"results":[]}`.length + count * RESULT_BYTES;
}

/** An agent's `POST /v1/deltas` of one envelope, and its answer. */
export function pushBytes(world: World, d: number): number {
  return `{"deltas":[]}`.length + world.pool.wire[d];
}
export const PUSH_ANSWER_BYTES = `{"results":[]}`.length + RESULT_BYTES;

/** A heartbeat or its answer, with a summary listing `reachable` regions. */
export function heartbeatBytes(reachable: ReadonlySet<string>): number {
  let bytes = REQUEST_HEAD_BYTES + `,"summary":}`.length + SUMMARY_BYTES;
  for (const id of reachable) bytes += id.length + 3;
  return bytes;
}

/** `/v1/peer/fetch` of `count` id prefixes. */
export function fetchRequestBytes(count: number): number {
  return REQUEST_HEAD_BYTES + `,"ids":[]}`.length + count * FETCH_ID_BYTES;
}

/** Its answer carrying these deltas. */
export function fetchAnswerBytes(world: World, deltas: ArrayLike<number>): number {
  let bytes = ANSWER_HEAD_BYTES + `,"deltas":[]}`.length;
  for (let i = 0; i < deltas.length; i++) bytes += world.pool.wire[deltas[i]] + 1;
  return bytes;
}

/**
 * One request from region `from` to region `to` (or an agent's, with `from` -1): `serve` runs at
 * the receiver when the request arrives and calls `reply` with the answer's bytes when it has
 * answered; `settle(true)` runs when the answer is back, `settle(false)` when the request failed
 * (a round trip on) or at the sender's timeout when it was blackholed or the answer came too
 * late. Exactly one `settle` per request.
 */
export function request(
  world: World,
  from: number,
  to: number,
  kind: MessageKind,
  bytes: number,
  timeoutMs: number,
  serve: (reply: (answerBytes: number) => void) => void,
  settle: (ok: boolean) => void,
): void {
  const { queue, net } = world;
  let settled = false;
  const once = (ok: boolean) => {
    if (settled) return;
    settled = true;
    settle(ok);
  };
  const deadline = queue.nowMs + timeoutMs;
  queue.at(deadline, () => once(false));
  const delay = from < 0 ? net.agent(bytes) : net.region(from, to, bytes, kind);
  if (delay === FAILED) {
    const rtt = from < 0 ? 2 * AGENT_LINK_MS[1] : 2 * net.latency(from, to);
    queue.after(rtt, () => once(false));
    return;
  }
  if (delay < 0) return; // blackholed: the timeout settles it
  queue.after(delay, () =>
    serve((answerBytes) => {
      const back = from < 0
        ? net.agent(answerBytes, true)
        : net.region(to, from, answerBytes, kind, true);
      if (back >= 0 && queue.nowMs + back < deadline) queue.after(back, () => once(true));
    }));
}

/**
 * Sends signed messages to other regions over HTTP and verifies their answers. Every call is
 * bounded by a timeout and a body limit; failures come back as values (the callers retry on their
 * own schedules, for ever). An answer counts only when it is signed by the region asked and bound
 * to the very request sent (see region_message.ts); an error answer (4xx/5xx problem+json) is
 * unsigned and is always a failure. Each request carries the active span's W3C `traceparent`.
 */
import { z } from "zod";
import type { AgentKey } from "../crypto/agent_key.ts";
import { verifyEd25519 } from "../crypto/ed25519.ts";
import { deltaId } from "../protocol/delta.ts";
import { DELTA_BODY_BYTES_MAX } from "../protocol/limits.ts";
import { utf8ByteLength, utf8Encode } from "../protocol/utf8.ts";
import {
  checkRegionAnswer,
  messageHead,
  REGION_MESSAGE_BYTES_MAX,
  type RegionVerifyFn,
  SIGNATURE_HEADER,
  signRegionMessage,
} from "./region_message.ts";
import type { RegionInfo } from "./topology.ts";
import { traceHeaders } from "../telemetry/trace_context.ts";

/** Longest wait for a peer's answer, in ms. */
export const PEER_REQUEST_TIMEOUT_MS = 2_000;
/** Longest answer body read from a peer, in bytes (an answer is no larger than a message). */
export const PEER_ANSWER_BYTES_MAX = REGION_MESSAGE_BYTES_MAX;

export type PeerAnswer<T> =
  | { readonly ok: true; readonly status: number; readonly body: T; readonly rttMs: number }
  | { readonly ok: false; readonly status: number | null; readonly error: string };

export interface PeerClientOptions {
  readonly self: string;
  readonly key: AgentKey;
  readonly now?: () => number;
  readonly fetch?: typeof fetch;
  readonly timeoutMs?: number;
  /** Checks answers' signatures; default WebCrypto Ed25519 (noble where WebCrypto lacks it). */
  readonly verify?: RegionVerifyFn;
}

/**
 * One result of a `deltas` answer: loose about statuses and reasons (a newer region may report
 * more), strict about what binds it to the delta sent, its id (see deltasAnswerProblem).
 */
const deltaResultSchema = z.object({
  id: z.string().nullable(),
  status: z.string().min(1).max(32),
  reason: z.string().max(64).optional(),
  detail: z.string().optional(),
});

const deltasAnswerSchema = z.object({ results: z.array(deltaResultSchema) });

/** The answer fields each kind must carry, when the caller names no schema. */
const ANSWER_SCHEMAS: Readonly<Record<string, z.ZodType<unknown>>> = {
  deltas: deltasAnswerSchema,
};
const ANY_FIELDS = z.record(z.string(), z.unknown());

/**
 * The id a region reports for a relayed envelope: the delta id of its body, or null exactly
 * where `parseEnvelope` (src/protocol/delta.ts) cannot compute one — not `{body, sig}` strings,
 * a body with a lone surrogate, or a body over DELTA_BODY_BYTES_MAX.
 */
export function envelopeId(envelope: unknown): string | null {
  if (typeof envelope !== "object" || envelope === null || Array.isArray(envelope)) return null;
  const { body, sig, ...extra } = envelope as Record<string, unknown>;
  if (typeof body !== "string" || typeof sig !== "string" || Object.keys(extra).length > 0) {
    return null;
  }
  if (!body.isWellFormed() || utf8ByteLength(body) > DELTA_BODY_BYTES_MAX) return null;
  return deltaId(utf8Encode(body));
}

/**
 * Why a `deltas` answer does not answer the deltas sent, or null: one result per delta, in
 * order, each naming the id of the delta at its position (null only for an envelope without one).
 */
export function deltasAnswerProblem(
  sent: readonly unknown[],
  results: readonly { readonly id: string | null }[],
): string | null {
  if (results.length !== sent.length) {
    return `answer has ${results.length} results for the ${sent.length} deltas sent`;
  }
  for (const [i, result] of results.entries()) {
    const id = envelopeId(sent[i]);
    if (result.id !== id) {
      return `result ${i} is for ${JSON.stringify(result.id)}, not the delta sent there (${
        JSON.stringify(id)
      })`;
    }
  }
  return null;
}

export class PeerClient {
  readonly #options: PeerClientOptions;

  constructor(options: PeerClientOptions) {
    this.#options = options;
  }

  /**
   * POSTs a signed `kind` message with `fields` to `peer` at `path` and verifies the answer:
   * signed by `peer`'s topology key, bound to this request, its fields valid under `schema`
   * (default: the kind's own, else any object). For `deltas`, the results must also match the
   * deltas sent one to one. Anything else is `ok: false`, never a parsed body.
   */
  async send<T>(
    peer: RegionInfo,
    path: string,
    kind: string,
    epoch: number,
    fields: Record<string, unknown>,
    schema?: z.ZodType<T>,
  ): Promise<PeerAnswer<T>> {
    const { self, key } = this.#options;
    const now = this.#options.now ?? Date.now;
    const head = messageHead(kind, self, peer.id, epoch, now());
    const { body, signature } = await signRegionMessage((b) => key.signAsync(b), {
      ...head,
      ...fields,
    });
    const started = performance.now();
    let status: number | null = null;
    try {
      const response = await (this.#options.fetch ?? fetch)(peer.url + path, {
        method: "POST",
        // The active span's `traceparent` (not signed: it only files the peer's spans under
        // this trace), so one trace follows a delta from region to region.
        headers: {
          "content-type": "application/json",
          [SIGNATURE_HEADER]: signature,
          ...traceHeaders(),
        },
        body,
        signal: AbortSignal.timeout(this.#options.timeoutMs ?? PEER_REQUEST_TIMEOUT_MS),
      });
      status = response.status;
      const text = await readAnswer(response);
      if (!response.ok) return { ok: false, status, error: text.slice(0, 300) };
      const rttMs = performance.now() - started;
      const checked = await checkRegionAnswer(text, response.headers.get(SIGNATURE_HEADER), {
        request: head,
        requestBody: body,
        peer,
        schema: schema ?? ANSWER_SCHEMAS[kind] ?? ANY_FIELDS,
        verify: this.#options.verify ?? verifyEd25519,
      });
      const refused = (detail: string) => ({
        ok: false as const,
        status,
        error: `answer of region "${peer.id}" refused: ${detail}`,
      });
      if (!checked.ok) return refused(`${checked.reason}: ${checked.detail}`);
      if (kind === "deltas") {
        const results = deltasAnswerSchema.safeParse(checked.answer);
        const problem = results.success
          ? deltasAnswerProblem(
            Array.isArray(fields.deltas) ? fields.deltas : [],
            results.data.results,
          )
          : "answer has no valid results";
        if (problem !== null) return refused(`unbound: ${problem}`);
      }
      return { ok: true, status, body: checked.answer as T, rttMs };
    } catch (error) {
      return { ok: false, status, error: (error as Error).message };
    }
  }
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Reads at most PEER_ANSWER_BYTES_MAX bytes of answer as strict UTF-8; throws past that. */
async function readAnswer(response: Response): Promise<string> {
  const tooLarge = () => new RangeError(`answer exceeds ${PEER_ANSWER_BYTES_MAX} bytes`);
  if (Number(response.headers.get("content-length") ?? 0) > PEER_ANSWER_BYTES_MAX) {
    await response.body?.cancel();
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body ?? []) {
    total += chunk.length;
    if (total > PEER_ANSWER_BYTES_MAX) throw tooLarge(); // leaving the loop cancels the stream
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return decoder.decode(bytes);
}

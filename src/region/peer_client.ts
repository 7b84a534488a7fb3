/**
 * Sends signed messages to other regions over HTTP. Every call is bounded by a timeout; failures
 * come back as values (the callers retry on their own schedules, for ever).
 */
import type { AgentKey } from "../client/agent_key.ts";
import { messageHead, SIGNATURE_HEADER, signRegionMessage } from "./region_message.ts";
import type { RegionInfo } from "./topology.ts";

/** Longest wait for a peer's answer, in ms. */
export const PEER_REQUEST_TIMEOUT_MS = 2_000;

export type PeerAnswer<T> =
  | { readonly ok: true; readonly status: number; readonly body: T; readonly rttMs: number }
  | { readonly ok: false; readonly status: number | null; readonly error: string };

export interface PeerClientOptions {
  readonly self: string;
  readonly key: AgentKey;
  readonly now?: () => number;
  readonly fetch?: typeof fetch;
  readonly timeoutMs?: number;
}

export class PeerClient {
  readonly #options: PeerClientOptions;

  constructor(options: PeerClientOptions) {
    this.#options = options;
  }

  /** POSTs a signed `kind` message with `fields` to `peer` at `path`; parses a JSON answer. */
  async send<T>(
    peer: RegionInfo,
    path: string,
    kind: string,
    epoch: number,
    fields: Record<string, unknown>,
  ): Promise<PeerAnswer<T>> {
    const { self, key } = this.#options;
    const now = this.#options.now ?? Date.now;
    const head = messageHead(kind, self, peer.id, epoch, now());
    const { body, signature } = signRegionMessage((b) => key.sign(b), { ...head, ...fields });
    const started = performance.now();
    try {
      const response = await (this.#options.fetch ?? fetch)(peer.url + path, {
        method: "POST",
        headers: { "content-type": "application/json", [SIGNATURE_HEADER]: signature },
        body,
        signal: AbortSignal.timeout(this.#options.timeoutMs ?? PEER_REQUEST_TIMEOUT_MS),
      });
      const text = await response.text();
      if (!response.ok) {
        return { ok: false, status: response.status, error: text.slice(0, 300) };
      }
      return {
        ok: true,
        status: response.status,
        body: JSON.parse(text) as T,
        rttMs: performance.now() - started,
      };
    } catch (error) {
      return { ok: false, status: null, error: (error as Error).message };
    }
  }
}

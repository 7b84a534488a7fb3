/**
 * What a region answers about deltas, as it goes on the wire, and the signature check every
 * layer is given: shared by the region, the mesh, the guards and the agent SDK.
 */
import type { RejectReason } from "./delta.ts";

/** Verifies an ed25519 signature; never throws for bad input. */
export type VerifyFn = (
  publicKey: Uint8Array,
  signature: Uint8Array,
  message: Uint8Array,
) => Promise<boolean>;

/** The answer for one delta of a push, as it goes on the wire. */
export type DeltaResult =
  | { readonly id: string; readonly status: "accepted" | "duplicate" }
  | {
    readonly id: string | null;
    readonly status: "rejected";
    readonly reason: RejectReason;
    readonly detail: string;
  };

/** One author's progress in one channel (`GET /v1/channels/{c}/authors/{a}`, docs §12.4). */
export interface AuthorHead {
  /** Highest seq such that 1..contiguous are all stored (0 when seq 1 is missing). */
  readonly contiguous: number;
  /** Highest seq stored. */
  readonly max: number;
  /** How many of this author's deltas are stored in the channel. */
  readonly count: number;
}

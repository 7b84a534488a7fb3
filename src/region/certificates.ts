/**
 * The admission certificates a region holds: the valid ones among the `set` ops of the
 * `_certificates` channel, by author. Kept per store per admission policy per instance and caught
 * up from the channel's arrivals like the quarantine (`quarantine.ts`): on ingest at most once per
 * `CERTIFICATES_REFRESH_MS` of the region clock, and only when a delta needs a certificate.
 * Certificates are re-verified against the policy's operators on the way in, so only what the
 * configured operators signed counts. Their number is bounded by what operators sign.
 */
import type { Op } from "../protocol/delta.ts";
import {
  type Certificate,
  CERTIFICATES_CHANNEL,
  type CertificateShape,
  checkCertificateShape,
} from "../protocol/certificate.ts";
import type { RegionStore } from "../store/region_store.ts";
import { type AdmissionPolicy, certificateAdmits } from "./admission.ts";
import type { VerifyFn } from "./ingest.ts";

/** Deltas of `_certificates` read per page while catching up. */
export const CERTIFICATES_CATCHUP_PAGE_DELTAS = 1_000;
/** Most ms of the region clock ingest relies on the cached certificates before reading again. */
export const CERTIFICATES_REFRESH_MS = 1_000;

/** Whether one of the policy's operators signed the certificate. */
export async function operatorSigned(
  shape: Extract<CertificateShape, { ok: true }>,
  admission: AdmissionPolicy | undefined,
  verify: VerifyFn,
): Promise<boolean> {
  for (const operator of admission?.operatorKeys ?? []) {
    if (await verify(operator, shape.signature, shape.message)) return true;
  }
  return false;
}

export class Certificates {
  readonly #store: RegionStore;
  readonly #admission: AdmissionPolicy;
  readonly #verify: VerifyFn;
  readonly #byAuthor = new Map<string, Certificate[]>();
  #cursor = 0;
  #refreshedAtMs: number | null = null;
  #inflight: Promise<void> | null = null;

  constructor(store: RegionStore, admission: AdmissionPolicy, verify: VerifyFn) {
    this.#store = store;
    this.#admission = admission;
    this.#verify = verify;
  }

  /** Adds a certificate already verified against the operators (just stored here). */
  note(certificate: Certificate): void {
    const held = this.#byAuthor.get(certificate.author) ?? [];
    if (!held.some((c) => JSON.stringify(c) === JSON.stringify(certificate))) {
      held.push(certificate);
    }
    this.#byAuthor.set(certificate.author, held);
  }

  /** Whether a held certificate admits the delta (call `refresh` first). */
  admits(delta: { readonly author: string; readonly channel: string; readonly ts: number }) {
    return (this.#byAuthor.get(delta.author) ?? []).some((c) => certificateAdmits(c, delta));
  }

  /** Catches up with the channel, unless it did less than `CERTIFICATES_REFRESH_MS` before. */
  async refresh(nowMs: number): Promise<void> {
    const last = this.#refreshedAtMs;
    if (last !== null && nowMs >= last && nowMs - last < CERTIFICATES_REFRESH_MS) return;
    while (this.#inflight !== null) await this.#inflight;
    const work = this.#catchUp().finally(() => this.#inflight = null);
    this.#inflight = work;
    await work;
    this.#refreshedAtMs = nowMs;
  }

  async #catchUp(): Promise<void> {
    for (;;) {
      const page = await this.#store.listArrivals(
        CERTIFICATES_CHANNEL,
        this.#cursor,
        CERTIFICATES_CATCHUP_PAGE_DELTAS,
      );
      for (const record of page.deltas) {
        const { ops } = JSON.parse(record.body) as { ops: Op[] };
        for (const op of ops) {
          if (op.op !== "set") continue;
          const shape = checkCertificateShape(op.key, op.value);
          if (shape.ok && await operatorSigned(shape, this.#admission, this.#verify)) {
            this.note(shape.certificate);
          }
        }
      }
      this.#cursor = page.cursor;
      if (!page.more) return;
    }
  }
}

const byStore = new WeakMap<RegionStore, WeakMap<AdmissionPolicy, Certificates>>();

/** The certificates of `store` under `admission` in this instance (one per store and policy). */
export function certificatesOf(
  store: RegionStore,
  admission: AdmissionPolicy,
  verify: VerifyFn,
): Certificates {
  let byPolicy = byStore.get(store);
  if (byPolicy === undefined) byStore.set(store, byPolicy = new WeakMap());
  let certificates = byPolicy.get(admission);
  if (certificates === undefined) {
    byPolicy.set(admission, certificates = new Certificates(store, admission, verify));
  }
  return certificates;
}

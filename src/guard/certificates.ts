/**
 * The admission certificates a region holds: the valid ones among the `set` ops of the
 * `_certificates` channel, by author. Kept per store per admission policy per instance and caught
 * up from the channel's arrivals like the quarantine (`quarantine.ts`): on ingest at most once per
 * `CERTIFICATES_REFRESH_MS` of the region clock, and only when a delta needs a certificate.
 * Certificates are re-verified against the policy's operators on the way in, so only what the
 * configured operators signed counts. Their number is bounded by what operators sign.
 */
import {
  type Certificate,
  CERTIFICATES_CHANNEL,
  type CertificateShape,
  checkCertificateShape,
} from "../protocol/certificate.ts";
import type { RegionStore } from "../store/region_store.ts";
import { type AdmissionPolicy, certificateAdmits } from "./admission.ts";
import { ChannelFollower } from "./channel_follower.ts";
import type { VerifyFn } from "../protocol/result.ts";

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
  readonly #byAuthor = new Map<string, Certificate[]>();
  readonly #follower: ChannelFollower;

  constructor(store: RegionStore, admission: AdmissionPolicy, verify: VerifyFn) {
    // Re-verified on the way in: only what the configured operators signed counts.
    this.#follower = new ChannelFollower(
      store,
      CERTIFICATES_CHANNEL,
      CERTIFICATES_REFRESH_MS,
      async (key, value) => {
        const shape = checkCertificateShape(key, value);
        if (shape.ok && await operatorSigned(shape, admission, verify)) {
          this.note(
            shape.certificate,
          );
        }
      },
    );
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
  refresh(nowMs: number): Promise<void> {
    return this.#follower.refresh(nowMs);
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

/**
 * Triples whose expected results separate ed25519.ts's acceptance rule from other Ed25519
 * variants: a runtime's native backend (`node:crypto`, WebCrypto) is used only if it gets all of
 * them right. The same vectors are in docs/protocol.md §6.
 */
const PROBE_MESSAGE = new TextEncoder().encode("mesh ed25519 backend probe");
interface Probe {
  publicKey: string;
  signature: string;
  message: Uint8Array<ArrayBuffer>;
  valid: boolean;
}
export const AGREEMENT_PROBES: readonly Probe[] = [
  // RFC 8032 section 7.1 TEST 1 (empty message): plain support.
  {
    message: new Uint8Array(0),
    publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    signature: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac" +
      "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    valid: true,
  },
  // TEST 1's key, R = [12345]B + (0, -1), S = 12345 + k*a: only a cofactored verifier accepts.
  {
    message: PROBE_MESSAGE,
    publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    signature: "feaf9d07b868cc52786305312c376563c622b0386a10d105e3c1501b28d65f7ef67e2b95c9ef32c7" +
      "37f2ecc62962f28813184f690ea1f2c00262669f001bf805",
    valid: false,
  },
  // Mixed-order key (TEST 1's key plus an order-8 point) with k = 0 mod 8: the cofactorless
  // equation holds, so a verifier that rejects such keys outright would disagree with noble.
  {
    message: PROBE_MESSAGE,
    publicKey: "3b5b475c4b82dd1572799fc546f4c6c03e478c6654aa4c7f945b347ea32af60d",
    signature: "d4b4f5784868c3020403246717ec169ff79e26608ea126a1ab69ee77d1b167126bd2c7c416757b1a" +
      "2ee74d32e1bf179ff24a9e9a0dfee5be672e4ecc0104b30f",
    valid: true,
  },
];

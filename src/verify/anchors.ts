/**
 * TrustAnchors: the verification-ready form of a trust root, from a validated trusted_root.json
 * or from PEM files of a CA-only root (cosign's --ca-roots / --ca-intermediates).
 */
import { X509Certificate } from '@sigstore/core';
import type { TrustMaterial } from '@sigstore/verify';
import { CountersignError } from '../errors.ts';
import { parseTrustedRootText, toTrustMaterial } from '../trust/index.ts';
import type { TrustRoot } from '../trust/index.ts';
import type { TrustAnchors } from './types.ts';

const END_OF_TIME = new Date(8640000000000000);

export function trustAnchorsFromRoot(root: TrustRoot): TrustAnchors {
  return {
    name: root.name,
    root,
    material: toTrustMaterial(root),
    hasTlogs: root.hasTlogs,
    hasCtlogs: root.hasCtlogs,
    hasTimestampAuthorities: root.hasTimestampAuthorities,
    caOnly: root.caOnly,
  };
}

export function trustAnchorsFromFile(name: string, text: string): TrustAnchors {
  return trustAnchorsFromRoot(parseTrustedRootText(text, name));
}

function parseCertificates(pem: string, what: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b, i) => {
    try {
      return X509Certificate.parse(b);
    } catch {
      throw new CountersignError('TRUST_ROOT_INVALID', `${what}: certificate ${i} does not parse`);
    }
  });
}

/**
 * A CA-only root from PEM: every root certificate is a trust anchor; an intermediate is trusted
 * only under the root that signed it, so a stray intermediate cannot become an anchor of its own.
 */
export function trustAnchorsFromCaPem(
  name: string,
  rootsPem: string,
  intermediatesPem: string,
): TrustAnchors {
  const roots = parseCertificates(rootsPem, `${name} roots`);
  if (roots.length === 0) throw new CountersignError('TRUST_ROOT_INVALID', `${name}: no root certificate`);
  const intermediates = parseCertificates(intermediatesPem, `${name} intermediates`);
  const certificateAuthorities: TrustMaterial['certificateAuthorities'] = roots.map((root) => {
    if (!root.isCA)
      throw new CountersignError('TRUST_ROOT_INVALID', `${name}: a root certificate is not a CA`);
    const under = intermediates.filter((i) => i.isCA && i.verify(root));
    return { certChain: [...under, root], validFor: { start: new Date(0), end: END_OF_TIME } };
  });
  const material: TrustMaterial = {
    certificateAuthorities,
    timestampAuthorities: [],
    tlogs: [],
    ctlogs: [],
    publicKey: () => {
      throw new CountersignError('KEY_INVALID', 'a CA-only trust root holds no public keys');
    },
  };
  return { name, material, hasTlogs: false, hasCtlogs: false, hasTimestampAuthorities: false, caOnly: true };
}

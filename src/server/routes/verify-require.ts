/**
 * The `require` of POST /v1/verify: requirements a caller adds to a decision in cosign's terms
 * (keys, certificate identity and issuer), turned into an ad-hoc policy. Pure: no I/O.
 *
 * Requirements are resolved only against the trust material this appliance already holds. A key is
 * named by the sha256 fingerprint of its SPKI and must be one of the configuration's keys/; an
 * identity is checked under one of its trust roots. A caller can therefore never bring its own key
 * or CA, only narrow what the configured trust already accepts; and the policy built here is
 * evaluated in addition to the configured ones (verify.ts), never instead of them.
 */
import type { Configuration } from '../../config/load.ts';
import { bindPolicy } from '../../config/load.ts';
import { CountersignError } from '../../errors.ts';
import { adHocPolicy, anchoredRegExp } from '../../policy/index.ts';
import type { AdHocKeyless, BoundPolicy, StringMatcher } from '../../policy/index.ts';

export interface VerifyRequire {
  /** sha256 hex fingerprints of SPKI DER, as `cosign public-key` output hashes to. */
  readonly keys?: readonly string[];
  readonly certificateIdentity?: string;
  readonly certificateIdentityRegexp?: string;
  readonly certificateOidcIssuer?: string;
  readonly certificateOidcIssuerRegexp?: string;
  /** The configured trust root the identity is checked under. */
  readonly trustRoot?: string;
}

export const MAX_REQUIRED_KEYS = 16;
const matcherString = { type: 'string', minLength: 1, maxLength: 1024 } as const;

export const requireSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  description:
    "Requirements added to the image's policies, resolved against this appliance's keys and trust roots only",
  properties: {
    keys: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_REQUIRED_KEYS,
      uniqueItems: true,
      description: "sha256 (hex) of a key's SPKI DER; each must be one of the appliance's keys",
      items: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    },
    certificateIdentity: matcherString,
    certificateIdentityRegexp: matcherString,
    certificateOidcIssuer: matcherString,
    certificateOidcIssuerRegexp: matcherString,
    trustRoot: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' },
  },
  // Exact and regular-expression forms exclude each other, as in a policy file.
  allOf: [
    { not: { required: ['certificateIdentity', 'certificateIdentityRegexp'] } },
    { not: { required: ['certificateOidcIssuer', 'certificateOidcIssuerRegexp'] } },
  ],
} as const;

/** The signer name of the identity requirement in the ad-hoc policy. */
export const IDENTITY_SIGNER = 'certificate-identity';

function invalid(message: string): CountersignError {
  return new CountersignError('REQUEST_INVALID', `require: ${message}`);
}

function matcher(
  exact: string | undefined,
  regexp: string | undefined,
  what: string,
): StringMatcher | undefined {
  if (exact !== undefined && regexp !== undefined) throw invalid(`${what} and ${what}Regexp are exclusive`);
  if (exact !== undefined) return { exact };
  if (regexp === undefined) return undefined;
  try {
    anchoredRegExp(regexp);
  } catch (e: unknown) {
    throw invalid(`${what}Regexp: ${e instanceof Error ? e.message : String(e)}`);
  }
  return { regexp };
}

/** The configured key (file name in keys/) with this fingerprint; the first by name if several. */
function keyNamed(config: Pick<Configuration, 'keys'>, fingerprint: string): string {
  const names = [...config.keys].filter(([, k]) => k.fingerprint === fingerprint).map(([name]) => name);
  const name = names.sort()[0];
  if (name === undefined) {
    throw new CountersignError(
      'KEY_INVALID',
      `key is not one of this appliance's keys: sha256 ${fingerprint} (a caller cannot bring its own key)`,
    );
  }
  return name;
}

/**
 * The trust root an identity is checked under: the one named, else the only Fulcio-style (not
 * CA-only) root. A CA-only root is never guessed: it must be named.
 */
function rootFor(config: Pick<Configuration, 'trustRoots'>, named: string | undefined): string {
  if (named !== undefined) {
    if (!config.trustRoots.has(named)) {
      throw new CountersignError(
        'TRUST_ROOT_INVALID',
        `require: ${named} is not one of this appliance's trust roots`,
      );
    }
    return named;
  }
  const fulcio = [...config.trustRoots].filter(([, r]) => !r.caOnly).map(([name]) => name);
  const [only] = fulcio;
  if (fulcio.length === 1 && only !== undefined) return only;
  throw invalid(
    fulcio.length === 0
      ? 'trustRoot is required: this appliance has no Fulcio-style trust root to check the identity under'
      : `trustRoot is required: this appliance has ${fulcio.length} Fulcio-style trust roots (${fulcio.sort().join(', ')})`,
  );
}

/**
 * The ad-hoc policy for a `require`, bound to the configuration's trust material: threshold 1 (any
 * one listed key, or the identity, as cosign accepts any one), matching every image so that
 * selection always includes it (a default policy would only apply when nothing else matches).
 */
export function requiredPolicy(
  config: Pick<Configuration, 'keys' | 'trustRoots' | 'anchors'>,
  req: VerifyRequire,
): BoundPolicy {
  const identity = matcher(req.certificateIdentity, req.certificateIdentityRegexp, 'certificateIdentity');
  const issuer = matcher(req.certificateOidcIssuer, req.certificateOidcIssuerRegexp, 'certificateOidcIssuer');
  if (identity === undefined && issuer !== undefined)
    throw invalid('an OIDC issuer needs a certificateIdentity (or certificateIdentityRegexp)');
  if (identity === undefined && req.trustRoot !== undefined)
    throw invalid('trustRoot applies to a certificate identity, and none is given');
  const keyNames = [...new Set((req.keys ?? []).map((fp) => keyNamed(config, fp)))].sort();
  const certificates: AdHocKeyless[] = [];
  if (identity !== undefined) {
    const trustRoot = rootFor(config, req.trustRoot);
    const caOnly = config.trustRoots.get(trustRoot)?.caOnly === true;
    if (caOnly && issuer !== undefined) {
      throw invalid(
        `trust root ${trustRoot} is CA-only: its certificates carry no OIDC issuer to check; leave the issuer out`,
      );
    }
    if (!caOnly && issuer === undefined) {
      throw invalid(
        `certificateOidcIssuer (or certificateOidcIssuerRegexp) is required under the Fulcio-style trust root ${trustRoot}`,
      );
    }
    certificates.push({
      name: IDENTITY_SIGNER,
      trustRoot,
      identity,
      ...(issuer === undefined ? {} : { issuer }),
    });
  }
  if (keyNames.length === 0 && certificates.length === 0)
    throw invalid('give keys or a certificateIdentity (or certificateIdentityRegexp)');
  const policy = adHocPolicy({
    keys: keyNames.map((name) => ({ name, fingerprint: config.keys.get(name)?.fingerprint ?? '' })),
    certificates,
    threshold: 1,
    trustRoot: (name) => config.trustRoots.get(name),
  });
  return bindPolicy({ ...policy, images: ['**'], isDefault: false }, config.keys, config.anchors);
}

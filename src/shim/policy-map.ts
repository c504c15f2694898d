/**
 * Which named countersign policy a cosign command line also asks for. The trust flags themselves
 * are checked by the appliance (require.ts), but a flag can only narrow what the appliance's own
 * keys and roots accept; an operator who wants a module held to more (N of M, required signers)
 * maps the module's flags (one set per Mercure module) to a reviewed policy, explicitly:
 *
 *   { "rules": [
 *       { "certificateIdentity": "developer@vendor.example",
 *         "certificateOidcIssuer": "https://sso.vendor.example", "policy": "vendor-a", "module": "brain-seg" },
 *       { "key": "/opt/mercure/keys/vendor-b.pub", "policy": "vendor-b" } ] }
 *
 * A rule matches when its trust fields equal the command line's exactly (same fields, same strings):
 * no patterns, so a rule cannot match more than the operator wrote. Pure: parsing and selection only.
 */
import { CountersignError } from '../errors.ts';
import { TRUST_FLAG_NAMES } from './args.ts';
import type { TrustFlags } from './args.ts';

export interface PolicyMapRule {
  readonly match: TrustFlags;
  readonly policy: string;
  /** Mercure module name, recorded as the caller context of the audit entry. */
  readonly module?: string;
}

export type PolicySource = 'flag' | 'environment' | 'map';

export interface PolicySelection {
  readonly policy: string;
  readonly source: PolicySource;
  readonly module?: string;
}

const TRUST_FIELDS = Object.keys(TRUST_FLAG_NAMES) as (keyof TrustFlags)[];

function invalid(file: string, message: string): CountersignError {
  return new CountersignError('CONFIG_INVALID', `${file}: ${message}`);
}

function selectorKey(t: TrustFlags): string {
  return JSON.stringify(TRUST_FIELDS.map((f) => t[f] ?? null));
}

/** Parses the policy map document; every field is checked, unknown fields are errors. */
export function parsePolicyMap(doc: unknown, file: string): readonly PolicyMapRule[] {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid(file, 'must be an object');
  const top = doc as Record<string, unknown>;
  for (const k of Object.keys(top)) if (k !== 'rules') throw invalid(file, `${k}: unknown field`);
  const rules = top['rules'];
  if (!Array.isArray(rules)) throw invalid(file, 'rules: must be a list');
  const seen = new Set<string>();
  return rules.map((raw: unknown, i): PolicyMapRule => {
    const at = `rules[${i}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      throw invalid(file, `${at}: must be an object`);
    const r = raw as Record<string, unknown>;
    const match: { -readonly [K in keyof TrustFlags]: string } = {};
    let policy: string | undefined;
    let module: string | undefined;
    for (const [k, v] of Object.entries(r)) {
      if (typeof v !== 'string' || v === '') throw invalid(file, `${at}.${k}: must be a non-empty string`);
      if (k === 'policy') policy = v;
      else if (k === 'module') module = v;
      else if ((TRUST_FIELDS as string[]).includes(k)) match[k as keyof TrustFlags] = v;
      else throw invalid(file, `${at}.${k}: unknown field`);
    }
    if (policy === undefined) throw invalid(file, `${at}.policy: required`);
    if (Object.keys(match).length === 0)
      throw invalid(file, `${at}: needs key, certificateIdentity(Regexp) or certificateOidcIssuer(Regexp)`);
    const key = selectorKey(match);
    if (seen.has(key)) throw invalid(file, `${at}: the same flags are mapped by an earlier rule`);
    seen.add(key);
    return { match, policy, ...(module === undefined ? {} : { module }) };
  });
}

/** The rule whose trust fields equal the command line's exactly, if any. */
export function findPolicyRule(
  rules: readonly PolicyMapRule[],
  trust: TrustFlags,
): PolicyMapRule | undefined {
  const want = selectorKey(trust);
  return rules.find((r) => selectorKey(r.match) === want);
}

/**
 * `--policy` first, then COUNTERSIGN_POLICY, then the map. Undefined means no named policy: the
 * call rests on the trust flags and the image's own policies, never on anything laxer.
 */
export function selectPolicy(input: {
  readonly flag?: string | undefined;
  readonly environment?: string | undefined;
  readonly rules: readonly PolicyMapRule[];
  readonly trust: TrustFlags;
}): PolicySelection | undefined {
  if (input.flag !== undefined) return { policy: input.flag, source: 'flag' };
  if (input.environment !== undefined && input.environment !== '')
    return { policy: input.environment, source: 'environment' };
  const rule = findPolicyRule(input.rules, input.trust);
  if (rule === undefined) return undefined;
  return {
    policy: rule.policy,
    source: 'map',
    ...(rule.module === undefined ? {} : { module: rule.module }),
  };
}

/** The trust flags as cosign would show them, for messages: `--key=/k.pub --certificate-identity=x`. */
export function describeTrustFlags(trust: TrustFlags): string {
  const parts = TRUST_FIELDS.flatMap((f) => {
    const v = trust[f];
    return v === undefined ? [] : [`--${TRUST_FLAG_NAMES[f]}=${v}`];
  });
  return parts.length === 0 ? '(no key or identity flags)' : parts.join(' ');
}

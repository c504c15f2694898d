/**
 * Could one signing identity satisfy two signers? Answered conservatively: "maybe" unless proven not.
 *
 * Rule for two string matchers (identity, issuer):
 * - exact vs exact: overlap iff equal;
 * - exact vs regexp: overlap iff the anchored regexp matches the exact string;
 * - regexp vs regexp: overlap unless their literal prefixes differ (neither is a prefix of the
 *   other) or their literal suffixes differ (neither is a suffix of the other). A regexp that is a
 *   plain literal is treated as exact. Anything the analysis does not understand (alternation,
 *   backreferences, `\x`/`\u`/`\p` escapes) yields empty prefix and suffix, so "overlap".
 * Two signers overlap when one identity could satisfy both:
 * - key vs key: the same key file, or two files whose key fingerprints are equal;
 * - keyless/certificate vs keyless/certificate on the same trust root: identities may overlap and
 *   issuers may overlap (a certificate signer accepts any issuer). GitHub workflow claims never
 *   separate two signers, since the threshold's unit (identityKey) is subject and issuer only.
 * - key vs certificate: never (different identity kinds).
 */
import type { PolicySigner, StringMatcher } from './types.ts';

/** Anchors a user regexp the way the verifier does (RE2, linear time): the whole string must match. */
export { anchoredRegExp } from '../verify/regexp.ts';
import { anchoredRegExp } from '../verify/regexp.ts';
import type { AnchoredPattern } from '../verify/regexp.ts';

interface LiteralEnds {
  readonly prefix: string;
  /** True when the whole pattern is one literal (then prefix is the only string it matches). */
  readonly literal: boolean;
  readonly suffix: string;
}

const NOTHING_KNOWN: LiteralEnds = { prefix: '', literal: false, suffix: '' };

type Token = { readonly literal: string } | { readonly other: true };

/** The literal characters every match of `source` starts and ends with (see the rule above). */
export function literalEnds(source: string): LiteralEnds {
  const tokens: Token[] = [];
  let trimmed = source;
  // The verifier anchors anyway; user-written anchors at the very ends change nothing.
  if (trimmed.startsWith('^')) trimmed = trimmed.slice(1);
  if (trimmed.endsWith('$') && !trimmed.endsWith('\\$')) trimmed = trimmed.slice(0, -1);
  // Code points, not UTF-16 units: with the `u` flag a quantifier applies to a whole code point.
  const body = Array.from(trimmed);
  const at = (k: number): string => body[k] ?? '';
  let i = 0;
  while (i < body.length) {
    const c = at(i);
    if (c === '|') return NOTHING_KNOWN;
    if (c === '\\') {
      const e = at(i + 1);
      if (e === '') return NOTHING_KNOWN;
      if (/[0-9xucpPk]/u.test(e)) return NOTHING_KNOWN;
      tokens.push(/[A-Za-z]/u.test(e) ? { other: true } : { literal: e });
      i += 2;
    } else if (c === '[') {
      // Skip the class up to its closing `]`, honouring escapes; a class is never a literal.
      let j = i + 1;
      if (at(j) === '^') j++;
      while (j < body.length && at(j) !== ']') j += at(j) === '\\' ? 2 : 1;
      if (j >= body.length) return NOTHING_KNOWN;
      tokens.push({ other: true });
      i = j + 1;
    } else if (c === '*' || c === '+' || c === '?' || c === '{') {
      // A quantified atom is not a fixed literal any more.
      if (tokens.length > 0) tokens[tokens.length - 1] = { other: true };
      if (c === '{') {
        const close = body.indexOf('}', i);
        if (close === -1) return NOTHING_KNOWN;
        i = close + 1;
      } else {
        i++;
      }
      tokens.push({ other: true });
    } else if ('.()^$]}'.includes(c)) {
      tokens.push({ other: true });
      i++;
    } else {
      tokens.push({ literal: c });
      i++;
    }
  }
  let prefix = '';
  for (const t of tokens) {
    if (!('literal' in t)) break;
    prefix += t.literal;
  }
  let suffix = '';
  for (let k = tokens.length - 1; k >= 0; k--) {
    const t = tokens[k];
    if (t === undefined || !('literal' in t)) break;
    suffix = t.literal + suffix;
  }
  const literal = tokens.every((t) => 'literal' in t);
  return { prefix, literal, suffix };
}

/**
 * Exact strings longer than this are not run through a regexp: "maybe" instead. With up to
 * MAX_POLICY_SIGNERS signers the check runs (signers/2)^2 matches whose cost is length times
 * program size; a hostile policy of long exact identities against `(\pL|\pN){999}` took 18 s.
 */
const MAX_TESTED_LENGTH = 256;

/** Compiled patterns, so each is compiled once however many pairs it is tested in (bounded). */
const compiled = new Map<string, AnchoredPattern | null>();

function safeTest(source: string, value: string): boolean {
  if (value.length > MAX_TESTED_LENGTH) return true;
  // Cheap and sound first: every match starts with the literal prefix and ends with the suffix.
  const ends = literalEnds(source);
  if (!value.startsWith(ends.prefix) || !value.endsWith(ends.suffix)) return false;
  let pattern = compiled.get(source);
  if (pattern === undefined) {
    try {
      pattern = anchoredRegExp(source);
    } catch {
      pattern = null; // an invalid regexp is reported elsewhere
    }
    if (compiled.size >= 256) compiled.clear();
    compiled.set(source, pattern);
  }
  // "maybe" is the safe answer for a pattern that does not compile.
  return pattern === null || pattern.test(value);
}

/** Whether some string could be matched by both matchers (false only when proven impossible). */
export function matchersMayOverlap(a: StringMatcher, b: StringMatcher): boolean {
  const ea = 'exact' in a ? a.exact : exactOf(a.regexp);
  const eb = 'exact' in b ? b.exact : exactOf(b.regexp);
  if (ea !== undefined && eb !== undefined) return ea === eb;
  if (ea !== undefined && 'regexp' in b) return safeTest(b.regexp, ea);
  if (eb !== undefined && 'regexp' in a) return safeTest(a.regexp, eb);
  if (!('regexp' in a) || !('regexp' in b)) return true;
  const la = literalEnds(a.regexp);
  const lb = literalEnds(b.regexp);
  if (!la.prefix.startsWith(lb.prefix) && !lb.prefix.startsWith(la.prefix)) return false;
  if (!la.suffix.endsWith(lb.suffix) && !lb.suffix.endsWith(la.suffix)) return false;
  return true;
}

function exactOf(source: string): string | undefined {
  const ends = literalEnds(source);
  return ends.literal ? ends.prefix : undefined;
}

/** Why two signers could be satisfied by one identity, or undefined when they cannot. */
export function signersOverlap(
  a: PolicySigner,
  b: PolicySigner,
  keyFingerprint: (name: string) => string | undefined,
): string | undefined {
  if (a.kind === 'key' || b.kind === 'key') {
    if (a.kind !== 'key' || b.kind !== 'key') return undefined;
    if (a.key === b.key) return `both use key ${a.key}`;
    const fa = keyFingerprint(a.key);
    if (fa !== undefined && fa === keyFingerprint(b.key))
      return `keys ${a.key} and ${b.key} are the same key`;
    return undefined;
  }
  if (a.trustRoot !== b.trustRoot) return undefined;
  if (!matchersMayOverlap(a.identity, b.identity)) return undefined;
  if (a.kind === 'keyless' && b.kind === 'keyless' && !matchersMayOverlap(a.issuer, b.issuer))
    return undefined;
  return `identity matchers on trust root ${a.trustRoot} may overlap`;
}

/**
 * The cosign command lines countersign-cosign accepts, parsed the way cosign's flag library (spf13/pflag)
 * reads them: `--flag value`, `--flag=value`, `-o json`, `-ojson`, `-o=json`, booleans as `--flag` or
 * `--flag=false`, flags and images interspersed, `--` ending the flags. Pure: no I/O.
 *
 * Every flag falls in one of three groups, and anything else is refused:
 * - trust flags (`--key`, `--certificate-identity[-regexp]`, `--certificate-oidc-issuer[-regexp]`):
 *   what the caller wants checked; sent to the appliance as requirements (require.ts), and may
 *   also select a named countersign policy (policy-map.ts);
 * - the shim's own settings (`--policy`, `--output json`, `--timeout`);
 * - tolerated flags, ignored because ignoring them can only make the decision stricter than cosign's
 *   or because they concern display and transport: the appliance verifies with its own trust material
 *   and registry settings, always checks the claims, and needs no network beyond the registry.
 * A flag that would make cosign check *more* (annotations, certificate chains, GitHub workflow
 * claims, a caller-supplied trusted root, signed timestamps) cannot be ignored without weakening the
 * check the caller asked for, so it is refused, never dropped.
 */
import { CountersignError } from '../errors.ts';

export interface TrustFlags {
  readonly key?: string;
  readonly certificateIdentity?: string;
  readonly certificateIdentityRegexp?: string;
  readonly certificateOidcIssuer?: string;
  readonly certificateOidcIssuerRegexp?: string;
}

export const TRUST_FLAG_NAMES = {
  key: 'key',
  certificateIdentity: 'certificate-identity',
  certificateIdentityRegexp: 'certificate-identity-regexp',
  certificateOidcIssuer: 'certificate-oidc-issuer',
  certificateOidcIssuerRegexp: 'certificate-oidc-issuer-regexp',
} as const satisfies Record<keyof TrustFlags, string>;

export interface VerifyCommand {
  readonly kind: 'verify';
  readonly images: readonly string[];
  readonly trust: TrustFlags;
  /** `--policy NAME`: the countersign policy to verify against. */
  readonly policy?: string;
  /** `--timeout`/`-t`, in milliseconds. */
  readonly timeoutMs?: number;
  /** Tolerated flags that were given and ignored, for the record. */
  readonly ignored: readonly string[];
}

export type ShimCommand =
  VerifyCommand | { readonly kind: 'version'; readonly json: boolean } | { readonly kind: 'help' };

type FlagRole =
  | { readonly role: 'trust'; readonly field: keyof TrustFlags }
  | { readonly role: 'policy' }
  | { readonly role: 'output' }
  | { readonly role: 'timeout' }
  | { readonly role: 'help' }
  | { readonly role: 'ignored' };

interface FlagSpec {
  readonly type: 'string' | 'bool';
  readonly is: FlagRole;
}

const IGNORED_BOOL: FlagSpec = { type: 'bool', is: { role: 'ignored' } };
const IGNORED_STRING: FlagSpec = { type: 'string', is: { role: 'ignored' } };

const VERIFY_FLAGS: Readonly<Record<string, FlagSpec>> = {
  key: { type: 'string', is: { role: 'trust', field: 'key' } },
  'certificate-identity': { type: 'string', is: { role: 'trust', field: 'certificateIdentity' } },
  'certificate-identity-regexp': {
    type: 'string',
    is: { role: 'trust', field: 'certificateIdentityRegexp' },
  },
  'certificate-oidc-issuer': { type: 'string', is: { role: 'trust', field: 'certificateOidcIssuer' } },
  'certificate-oidc-issuer-regexp': {
    type: 'string',
    is: { role: 'trust', field: 'certificateOidcIssuerRegexp' },
  },
  policy: { type: 'string', is: { role: 'policy' } },
  output: { type: 'string', is: { role: 'output' } },
  timeout: { type: 'string', is: { role: 'timeout' } },
  help: { type: 'bool', is: { role: 'help' } },
  // Requests to check less than the policy does: ignoring them keeps the decision as strict as the policy.
  'insecure-ignore-tlog': IGNORED_BOOL,
  'insecure-ignore-sct': IGNORED_BOOL,
  'private-infrastructure': IGNORED_BOOL,
  // The appliance always validates the claims (digest binding), whatever this says.
  'check-claims': IGNORED_BOOL,
  // Transport and display: the appliance uses its own registry settings and never goes online.
  'allow-insecure-registry': IGNORED_BOOL,
  'allow-http-registry': IGNORED_BOOL,
  offline: IGNORED_BOOL,
  'experimental-oci11': IGNORED_BOOL,
  verbose: IGNORED_BOOL,
  'rekor-url': IGNORED_STRING,
  'max-workers': IGNORED_STRING,
};

const SHORTHANDS: Readonly<Record<string, string>> = { o: 'output', t: 'timeout', d: 'verbose', h: 'help' };

/** Flags cosign has that would add checks; named so that the refusal can say why. */
const STRENGTHENING_FLAGS = new Set([
  'annotations',
  'a',
  'certificate',
  'certificate-chain',
  'ca-roots',
  'ca-intermediates',
  'certificate-github-workflow-name',
  'certificate-github-workflow-ref',
  'certificate-github-workflow-repository',
  'certificate-github-workflow-sha',
  'certificate-github-workflow-trigger',
  'trusted-root',
  'use-signed-timestamps',
  'signature-digest-algorithm',
  'sk',
  'slot',
]);

function usage(message: string): CountersignError {
  return new CountersignError('USAGE', message);
}

/** strconv.ParseBool, which pflag uses for `--flag=value` on booleans. */
function parseGoBool(flag: string, value: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  throw usage(`invalid argument "${value}" for "--${flag}": not a boolean`);
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A Go duration as cosign's `--timeout` takes it (`30s`, `1m30s`, `500ms`), or a bare number of
 * seconds as COUNTERSIGN_TIMEOUT also allows. Returns milliseconds; zero and negatives are refused
 * because they would mean "no limit" to cosign and an instant failure here.
 */
export function parseDuration(text: string, what: string): number {
  const bare = /^\d+(\.\d+)?$/.exec(text);
  let ms = 0;
  if (bare !== null) {
    ms = Number(text) * 1000;
  } else {
    const part = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
    let consumed = 0;
    for (let m = part.exec(text); m !== null; m = part.exec(text)) {
      ms += Number(m[1]) * (DURATION_UNITS[m[2] ?? ''] ?? Number.NaN);
      consumed = part.lastIndex;
    }
    if (consumed !== text.length || text === '') throw usage(`${what}: "${text}" is not a duration like 30s`);
  }
  if (!Number.isFinite(ms) || ms <= 0) throw usage(`${what}: "${text}" must be a positive duration`);
  return Math.ceil(ms);
}

interface Parsed {
  readonly values: Map<string, string[]>;
  readonly positionals: string[];
}

function parseFlags(args: readonly string[], specs: Readonly<Record<string, FlagSpec>>): Parsed {
  const values = new Map<string, string[]>();
  const positionals: string[] = [];
  const add = (name: string, value: string): void => {
    values.set(name, [...(values.get(name) ?? []), value]);
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (arg === '-' || !arg.startsWith('-')) {
      positionals.push(arg);
      continue;
    }
    let name: string;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq < 0 ? undefined : arg.slice(eq + 1);
    } else {
      // Shorthand: -o json, -ojson, -o=json, -d.
      const short = arg.slice(1, 2);
      const long = SHORTHANDS[short];
      if (long === undefined || specs[long] === undefined) throw refusal(short, true);
      name = long;
      const rest = arg.slice(2);
      inline = rest === '' ? undefined : rest.startsWith('=') ? rest.slice(1) : rest;
    }
    const spec = specs[name];
    if (spec === undefined) throw refusal(name, false);
    if (spec.type === 'bool') {
      add(name, inline === undefined ? 'true' : String(parseGoBool(name, inline)));
      continue;
    }
    if (inline === undefined) {
      const next = args[i + 1];
      if (next === undefined) throw usage(`flag needs an argument: --${name}`);
      inline = next;
      i++;
    }
    add(name, inline);
  }
  return { values, positionals };
}

function refusal(name: string, short: boolean): CountersignError {
  const shown = short ? `-${name}` : `--${name}`;
  if (STRENGTHENING_FLAGS.has(name)) {
    return usage(
      `${shown} asks for a check countersign-cosign cannot pass on; refusing rather than ignoring it ` +
        '(express it in a countersign policy instead)',
    );
  }
  return usage(`unsupported flag ${shown}: countersign-cosign refuses what it cannot serve`);
}

function single(parsed: Parsed, name: string): string | undefined {
  const v = parsed.values.get(name);
  if (v === undefined) return undefined;
  if (v.length > 1) throw usage(`--${name} given more than once`);
  return v[0];
}

function parseVerify(args: readonly string[]): ShimCommand {
  const parsed = parseFlags(args, VERIFY_FLAGS);
  if (parsed.values.has('help')) return { kind: 'help' };
  const trust: { -readonly [K in keyof TrustFlags]: string } = {};
  const ignored: string[] = [];
  let policy: string | undefined;
  let timeoutMs: number | undefined;
  for (const name of parsed.values.keys()) {
    const spec = VERIFY_FLAGS[name];
    if (spec === undefined) continue;
    const value = single(parsed, name) ?? '';
    switch (spec.is.role) {
      case 'trust':
        if (value === '') throw usage(`--${name} must not be empty`);
        trust[spec.is.field] = value;
        break;
      case 'policy':
        if (value === '') throw usage('--policy must not be empty');
        policy = value;
        break;
      case 'output':
        if (value !== 'json') throw usage(`--output ${value}: only json output is supported`);
        break;
      case 'timeout':
        timeoutMs = parseDuration(value, '--timeout');
        break;
      case 'help':
        break;
      case 'ignored':
        ignored.push(`--${name}`);
        break;
    }
  }
  if (parsed.positionals.length === 0) throw usage('cosign verify requires at least one image reference');
  for (const image of parsed.positionals) {
    if (image === '' || /\s/.test(image)) throw usage(`"${image}" is not an image reference`);
  }
  return {
    kind: 'verify',
    images: parsed.positionals,
    trust,
    ignored,
    ...(policy === undefined ? {} : { policy }),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  };
}

/** Parses `cosign <subcommand> ...` (argv without the program name). */
export function parseCosignArgs(argv: readonly string[]): ShimCommand {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'verify':
      return parseVerify(rest);
    case 'version': {
      const parsed = parseFlags(rest, { json: { type: 'bool', is: { role: 'ignored' } } });
      if (parsed.positionals.length > 0) throw usage('cosign version takes no arguments');
      return { kind: 'version', json: single(parsed, 'json') === 'true' };
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      return { kind: 'help' };
    default:
      throw usage(
        sub.startsWith('-')
          ? `unsupported flag ${sub} before the subcommand: countersign-cosign serves "cosign verify" and "cosign version"`
          : `"cosign ${sub}" is not available here: countersign-cosign only verifies ("cosign verify") ` +
              'through the countersign appliance',
      );
  }
}

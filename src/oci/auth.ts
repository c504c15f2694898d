/**
 * Registry authentication, the pure parts: `WWW-Authenticate` challenges (RFC 9110 section 11.6.1),
 * the distribution token protocol's request and answer (distribution `docs/spec/auth/token.md`),
 * and a per-scope token cache. The HTTP exchanges live in registry-client.ts.
 */
import { CountersignError } from '../errors.ts';
import type { RegistryCredentials } from './docker-config.ts';

export interface AuthChallenge {
  /** Lower-case scheme: `basic`, `bearer`, ... */
  readonly scheme: string;
  /** Auth parameters, names lower-cased. */
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

/**
 * Parses a `WWW-Authenticate` value into its challenges. Several challenges may share one header
 * (`Basic realm="x", Bearer realm="y",service="z"`): a token not followed by '=' starts a new one.
 */
export function parseWwwAuthenticate(header: string): AuthChallenge[] {
  const challenges: { scheme: string; params: Record<string, string> }[] = [];
  let rest = header;
  const skip = (re: RegExp) => {
    const m = re.exec(rest);
    if (m) rest = rest.slice(m[0].length);
  };
  for (;;) {
    skip(/^[\s,]+/);
    if (rest.length === 0) break;
    const name = TOKEN_RE.exec(rest);
    if (!name) break; // unparseable remainder: keep what was understood
    rest = rest.slice(name[0].length);
    skip(/^[ \t]*/);
    if (rest.startsWith('=') && challenges.length > 0 && !/^=+\s*(,|$)/.test(rest)) {
      // auth-param of the current challenge
      rest = rest.slice(1);
      skip(/^[ \t]*/);
      let value: string;
      if (rest.startsWith('"')) {
        let i = 1;
        value = '';
        while (i < rest.length && rest[i] !== '"') {
          if (rest[i] === '\\' && i + 1 < rest.length) i++;
          value += rest[i] ?? '';
          i++;
        }
        rest = rest.slice(i + 1);
      } else {
        const token = TOKEN_RE.exec(rest);
        value = token ? token[0] : '';
        rest = rest.slice(value.length);
      }
      const current = challenges[challenges.length - 1];
      if (current) current.params[name[0].toLowerCase()] = value;
    } else {
      // token68 (`Basic abc==`) is not used by registries; a bare token starts a challenge.
      challenges.push({ scheme: name[0].toLowerCase(), params: {} });
      skip(/^[A-Za-z0-9._~+/-]+=*(?=\s*(,|$))(?!\s*=)/);
    }
  }
  return challenges;
}

/** The challenge to answer: Bearer when offered (it scopes access), else Basic; else none. */
export function pickChallenge(challenges: readonly AuthChallenge[]): AuthChallenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
}

export function basicAuthorization(credentials: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64')}`;
}

/** The default scope for reading a repository (token.md, "Requesting a Token"). */
export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

/** The token endpoint URL for a Bearer challenge; the challenge's own scope wins over ours. */
export function tokenUrl(challenge: AuthChallenge, fallbackScope: string): URL {
  const realm = challenge.params['realm'];
  if (realm === undefined || realm === '') {
    throw new CountersignError('REGISTRY_AUTH_FAILED', 'Bearer challenge without a realm');
  }
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw new CountersignError('REGISTRY_AUTH_FAILED', `Bearer realm '${realm}' is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new CountersignError('REGISTRY_AUTH_FAILED', `Bearer realm '${realm}' is not http(s)`);
  }
  const service = challenge.params['service'];
  if (service !== undefined) url.searchParams.set('service', service);
  url.searchParams.set('scope', challenge.params['scope'] ?? fallbackScope);
  return url;
}

export interface TokenAnswer {
  readonly token: string;
  /** Seconds; token.md says to assume 60 when absent. */
  readonly expiresInSeconds: number;
}

/** Parses the token endpoint's JSON (`token`, or OAuth2's `access_token`). */
export function parseTokenAnswer(bytes: Uint8Array): TokenAnswer {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new CountersignError('REGISTRY_AUTH_FAILED', 'token endpoint answered with invalid JSON');
  }
  if (typeof doc !== 'object' || doc === null) {
    throw new CountersignError('REGISTRY_AUTH_FAILED', 'token endpoint answer is not an object');
  }
  const d = doc as Record<string, unknown>;
  const token = typeof d['token'] === 'string' && d['token'] !== '' ? d['token'] : d['access_token'];
  // Printable ASCII only: it goes into a header.
  if (typeof token !== 'string' || !/^[\x21-\x7e]+$/.test(token)) {
    throw new CountersignError('REGISTRY_AUTH_FAILED', 'token endpoint answer has no usable token');
  }
  const expires = d['expires_in'];
  const expiresInSeconds =
    typeof expires === 'number' && Number.isFinite(expires) && expires > 0 ? expires : 60;
  return { token, expiresInSeconds };
}

/** Bearer tokens per realm, service and scope, dropped a little before they expire. */
export class TokenCache {
  readonly #entries = new Map<string, { authorization: string; expiresAt: number }>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  static key(url: URL): string {
    return `${url.origin}${url.pathname}?${url.searchParams.toString()}`;
  }

  get(key: string): string | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.authorization;
  }

  set(key: string, answer: TokenAnswer): string {
    const authorization = `Bearer ${answer.token}`;
    // Ten seconds of slack so a token does not expire in flight.
    const lifetimeMs = Math.max(0, answer.expiresInSeconds - 10) * 1000;
    this.#entries.set(key, { authorization, expiresAt: this.#now() + lifetimeMs });
    return authorization;
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }
}

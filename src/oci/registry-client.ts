/**
 * A registry repository as an ImageSource: the OCI distribution API v2 (distribution-spec v1.1,
 * "Pulling manifests", "Pulling blobs", "Listing Referrers") over undici.
 *
 * Fail closed: every network, TLS, auth, size or format problem is a CountersignError with its own
 * code, and a digest is always recomputed over the bytes received (the Docker-Content-Digest
 * header is never read).
 */
import { rootCertificates } from 'node:tls';
import { Agent, request } from 'undici';
import type { Dispatcher } from 'undici';
import { CountersignError, isCountersignError } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';
import {
  TokenCache,
  basicAuthorization,
  parseTokenAnswer,
  parseWwwAuthenticate,
  pickChallenge,
  pullScope,
  tokenUrl,
} from './auth.ts';
import type { AuthChallenge } from './auth.ts';
import { credentialsFor } from './docker-config.ts';
import type { DockerConfig } from './docker-config.ts';
import { isDigest, isTag, sha256Digest } from './digest.ts';
import { bareMediaType, parseManifest } from './manifest.ts';
import { DOCKER_HUB_REGISTRY } from './reference.ts';
import type { Digest, FetchedManifest, ImageSource, RegistryReference } from './types.ts';
import { MEDIA_TYPES } from './types.ts';

/** Largest manifest or index accepted, the limit distribution and containerd use too. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_TOKEN_ANSWER_BYTES = 1024 * 1024;
const MAX_ERROR_BODY_BYTES = 4096;
const MAX_REDIRECTS = 3;
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_TOTAL_TIMEOUT_MS = 30_000;

/** Schema 1 is deliberately absent: a registry then answers 404 or converts, never schema 1. */
const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.dockerManifest,
  MEDIA_TYPES.dockerManifestList,
].join(', ');

/** One HTTP exchange, for metrics: reported once it has an answer or failed. */
export interface RegistryRequestEvent {
  /** `host[:port]` the request went to (a redirect target may differ from the registry). */
  readonly host: string;
  readonly path: string;
  readonly status?: number;
  readonly error?: ErrorCode;
  readonly durationMs: number;
}

export interface RegistryOptions {
  readonly dockerConfig?: DockerConfig;
  /** Extra trusted CAs (PEM) per registry host (`host` or `host:port`), added to the system roots. */
  readonly caBundles?: Readonly<Record<string, string>>;
  /** Registries (`host:port` exactly as in references) spoken to over plain HTTP. */
  readonly insecureRegistries?: readonly string[];
  readonly connectTimeoutMs?: number;
  /** Deadline for one call (getManifest, getBlob, getReferrers), auth and redirects included. */
  readonly totalTimeoutMs?: number;
  /** Upper bound for any blob, whatever a caller asks for. */
  readonly maxBlobBytes?: number;
  readonly onRequest?: (event: RegistryRequestEvent) => void;
}

/** An ImageSource that holds connections until closed. */
export interface ClosableImageSource extends ImageSource {
  close(): Promise<void>;
}

/** Connections and tokens shared by the sources of one deployment. */
export interface RegistryClient {
  source(ref: RegistryReference): ImageSource;
  close(): Promise<void>;
}

interface Answer {
  readonly status: number;
  readonly headers: Dispatcher.ResponseData['headers'];
  readonly body: Dispatcher.ResponseData['body'];
}

interface ReadAnswer {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly bytes: Uint8Array;
}

const TLS_ERROR_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'HOSTNAME_MISMATCH',
  'EPROTO',
]);
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
]);
const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

function errorCodesOf(e: unknown): string[] {
  const codes: string[] = [];
  let current: unknown = e;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    current = (current as { cause?: unknown }).cause;
  }
  return codes;
}

/** Maps a transport failure to a code; the deadline's abort wins over whatever undici reports. */
function networkError(e: unknown, url: URL, deadline: AbortSignal): CountersignError {
  if (isCountersignError(e)) return e;
  const where = url.host;
  if (deadline.aborted)
    return new CountersignError('REGISTRY_TIMEOUT', `${where}: request deadline passed`, { cause: e });
  const codes = errorCodesOf(e);
  const detail = e instanceof Error ? e.message : String(e);
  if (codes.some((c) => TIMEOUT_CODES.has(c))) {
    return new CountersignError('REGISTRY_TIMEOUT', `${where}: ${detail}`, { cause: e });
  }
  if (codes.some((c) => UNREACHABLE_CODES.has(c))) {
    return new CountersignError('REGISTRY_UNREACHABLE', `${where}: ${detail}`, { cause: e });
  }
  if (
    codes.some(
      (c) =>
        TLS_ERROR_CODES.has(c) || c.startsWith('ERR_TLS_') || c.startsWith('ERR_SSL_') || c.includes('CERT'),
    )
  ) {
    return new CountersignError('REGISTRY_TLS_ERROR', `${where}: TLS failure: ${detail}`, { cause: e });
  }
  return new CountersignError('REGISTRY_ERROR', `${where}: ${detail}`, { cause: e });
}

function headerValue(headers: Answer['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Drops a body we will not read; undici reports that as an error nobody needs to hear. */
function abandon(answer: Answer): void {
  answer.body.on('error', () => undefined);
  answer.body.destroy();
}

/** Reads a body, refusing it as soon as it passes the limit (Content-Length is only a hint). */
async function readLimited(answer: Answer, limit: number, what: string): Promise<Uint8Array> {
  const declared = headerValue(answer.headers, 'content-length');
  if (declared !== undefined && Number(declared) > limit) {
    abandon(answer);
    throw new CountersignError(
      'SIZE_LIMIT_EXCEEDED',
      `${what} is ${declared} bytes, more than the limit of ${limit}`,
    );
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of answer.body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      abandon(answer);
      throw new CountersignError('SIZE_LIMIT_EXCEEDED', `${what} is larger than the limit of ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return new Uint8Array(Buffer.concat(chunks, total));
}

/** The first distribution error (`{"errors":[{"code","message"}]}`), for messages only. */
async function errorSummary(answer: Answer): Promise<string> {
  try {
    const bytes = await readLimited(answer, MAX_ERROR_BODY_BYTES, 'error body');
    const doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as {
      errors?: { code?: unknown; message?: unknown }[];
    };
    const first = doc.errors?.[0];
    if (first && typeof first.code === 'string') {
      const message = typeof first.message === 'string' ? `: ${first.message}` : '';
      return ` (${first.code}${message})`.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
    }
  } catch {
    // the summary is a courtesy; the status code already says what happened
  }
  return '';
}

async function discard(answer: Answer): Promise<void> {
  try {
    await answer.body.dump({ limit: MAX_ERROR_BODY_BYTES });
  } catch {
    // nothing to recover from a body we are dropping
  }
}

/** Creates a client whose sources share connections (an undici Agent per host) and tokens. */
export function createRegistryClient(options: RegistryOptions = {}): RegistryClient {
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const totalTimeoutMs = options.totalTimeoutMs ?? DEFAULT_TOTAL_TIMEOUT_MS;
  const insecure = new Set((options.insecureRegistries ?? []).map((h) => h.toLowerCase()));
  const agents = new Map<string, Agent>();
  const tokens = new TokenCache();

  function agentFor(url: URL): Agent {
    let agent = agents.get(url.host);
    if (agent === undefined) {
      const pem = options.caBundles?.[url.host] ?? options.caBundles?.[url.hostname];
      agent = new Agent({
        connect: {
          timeout: connectTimeoutMs,
          ...(pem === undefined ? {} : { ca: [...rootCertificates, pem] }),
        },
        headersTimeout: totalTimeoutMs,
        bodyTimeout: totalTimeoutMs,
      });
      agents.set(url.host, agent);
    }
    return agent;
  }

  /** One GET; reports to onRequest. Redirects and auth are the callers' business. */
  async function send(url: URL, headers: Record<string, string>, deadline: AbortSignal): Promise<Answer> {
    const started = performance.now();
    const report = (status: number | undefined, error: ErrorCode | undefined) => {
      options.onRequest?.({
        host: url.host,
        path: url.pathname,
        ...(status === undefined ? {} : { status }),
        ...(error === undefined ? {} : { error }),
        durationMs: performance.now() - started,
      });
    };
    try {
      const res = await request(url, { dispatcher: agentFor(url), method: 'GET', headers, signal: deadline });
      report(res.statusCode, undefined);
      return { status: res.statusCode, headers: res.headers, body: res.body };
    } catch (e) {
      const error = networkError(e, url, deadline);
      report(undefined, error.code);
      throw error;
    }
  }

  function source(ref: RegistryReference): ImageSource {
    const registry = ref.registry.toLowerCase();
    const scheme = insecure.has(registry) ? 'http' : 'https';
    // Docker Hub is named index.docker.io but served from registry-1.docker.io.
    const wireHost = registry === DOCKER_HUB_REGISTRY ? 'registry-1.docker.io' : registry;
    const base = new URL(`${scheme}://${wireHost}`);
    const credentials = credentialsFor(options.dockerConfig, registry);
    const scope = pullScope(ref.repository);
    const name = `${registry}/${ref.repository}`;
    let authorization: string | undefined;

    /**
     * GET with redirects followed by hand: at most MAX_REDIRECTS, never from https to http, and
     * the Authorization header only ever goes to the registry's own origin.
     */
    async function getFollowing(start: URL, accept: string, auth: string | undefined, deadline: AbortSignal) {
      let url = start;
      for (let hop = 0; ; hop++) {
        const headers: Record<string, string> = { accept };
        if (auth !== undefined && url.origin === base.origin) headers['authorization'] = auth;
        const answer = await send(url, headers, deadline);
        if (![301, 302, 303, 307, 308].includes(answer.status)) return { answer, url };
        await discard(answer);
        const location = headerValue(answer.headers, 'location');
        if (location === undefined || location === '') {
          throw new CountersignError(
            'REGISTRY_ERROR',
            `${url.host}: redirect ${answer.status} without a Location`,
          );
        }
        if (hop >= MAX_REDIRECTS) {
          throw new CountersignError('REGISTRY_ERROR', `${base.host}: more than ${MAX_REDIRECTS} redirects`);
        }
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          throw new CountersignError('REGISTRY_ERROR', `${url.host}: redirect to an invalid URL`);
        }
        if (next.protocol !== 'https:' && next.protocol !== 'http:') {
          throw new CountersignError(
            'REGISTRY_REDIRECT_REFUSED',
            `${url.host}: redirect to a ${next.protocol} URL`,
          );
        }
        if (url.protocol === 'https:' && next.protocol === 'http:') {
          throw new CountersignError(
            'REGISTRY_REDIRECT_REFUSED',
            `${url.host}: redirect from https to plain http (${next.host})`,
          );
        }
        url = next;
      }
    }

    /** A Bearer token from the challenge's realm (basic credentials sent when we have them). */
    async function fetchToken(challenge: AuthChallenge, rejected: string | undefined, deadline: AbortSignal) {
      const url = tokenUrl(challenge, scope);
      if (url.protocol === 'http:' && !insecure.has(url.host.toLowerCase())) {
        throw new CountersignError(
          'REGISTRY_AUTH_FAILED',
          `token realm ${url.host} is plain http and not an insecure registry`,
        );
      }
      const key = TokenCache.key(url);
      const cached = tokens.get(key);
      if (cached !== undefined && cached !== rejected) return cached;
      tokens.delete(key);
      const headers: Record<string, string> = { accept: 'application/json' };
      if (credentials !== undefined) headers['authorization'] = basicAuthorization(credentials);
      const answer = await send(url, headers, deadline);
      if (answer.status === 401 || answer.status === 403) {
        await discard(answer);
        throw new CountersignError(
          'REGISTRY_AUTH_FAILED',
          `token endpoint ${url.host} refused (${answer.status})`,
        );
      }
      if (answer.status !== 200) {
        const summary = await errorSummary(answer);
        throw new CountersignError(
          'REGISTRY_AUTH_FAILED',
          `token endpoint ${url.host} answered ${answer.status}${summary}`,
        );
      }
      const bytes = await readLimited(answer, MAX_TOKEN_ANSWER_BYTES, 'token answer');
      return tokens.set(key, parseTokenAnswer(bytes));
    }

    async function authorize(
      header: string | undefined,
      rejected: string | undefined,
      deadline: AbortSignal,
    ) {
      const challenge = pickChallenge(parseWwwAuthenticate(header ?? ''));
      if (challenge === undefined) {
        throw new CountersignError(
          'REGISTRY_AUTH_FAILED',
          `${registry}: 401 without a Basic or Bearer challenge`,
        );
      }
      if (challenge.scheme === 'basic') {
        if (credentials === undefined) {
          throw new CountersignError(
            'REGISTRY_AUTH_FAILED',
            `${registry} requires credentials and none are configured`,
          );
        }
        const basic = basicAuthorization(credentials);
        if (basic === rejected)
          throw new CountersignError('REGISTRY_AUTH_FAILED', `${registry} rejected the credentials`);
        return basic;
      }
      return fetchToken(challenge, rejected, deadline);
    }

    /**
     * GET a registry path: auth on demand (anonymous first, then the challenge's scheme), then
     * the status. 404 is an answer; any other non-2xx is an error.
     */
    async function get(path: string, accept: string, limit: number, what: string): Promise<ReadAnswer> {
      const deadline = AbortSignal.timeout(totalTimeoutMs);
      const url = new URL(path, base);
      try {
        let auth = authorization;
        // Anonymous (or cached), then a fresh answer to the challenge, then once more if a cached
        // token had gone stale: three rounds at most.
        for (let round = 0; round < 3; round++) {
          const { answer } = await getFollowing(url, accept, auth, deadline);
          if (answer.status === 401) {
            const challenge = headerValue(answer.headers, 'www-authenticate');
            await discard(answer);
            if (round === 2) break;
            const next = await authorize(challenge, auth, deadline);
            if (next === auth) break;
            auth = next;
            continue;
          }
          authorization = auth;
          if (answer.status === 403) {
            const summary = await errorSummary(answer);
            throw new CountersignError('REGISTRY_AUTH_FAILED', `${name}: access denied (403)${summary}`);
          }
          if (answer.status === 404) {
            await discard(answer);
            return { status: 404, contentType: undefined, bytes: new Uint8Array() };
          }
          if (answer.status < 200 || answer.status > 299) {
            const summary = await errorSummary(answer);
            throw new CountersignError(
              'REGISTRY_ERROR',
              `${name}: ${what} answered HTTP ${answer.status}${summary}`,
            );
          }
          const bytes = await readLimited(answer, limit, what);
          return { status: answer.status, contentType: headerValue(answer.headers, 'content-type'), bytes };
        }
        throw new CountersignError(
          'REGISTRY_AUTH_FAILED',
          `${registry}: still unauthorised after authenticating`,
        );
      } catch (e) {
        throw networkError(e, url, deadline);
      }
    }

    return {
      name,

      async getManifest(tagOrDigest: string): Promise<FetchedManifest | null> {
        const byDigest = tagOrDigest.startsWith('sha256:');
        if (byDigest ? !isDigest(tagOrDigest) : !isTag(tagOrDigest)) {
          throw new CountersignError(
            'INVALID_REFERENCE',
            `'${tagOrDigest}' is neither a tag nor a sha256 digest`,
          );
        }
        const answer = await get(
          `/v2/${ref.repository}/manifests/${tagOrDigest}`,
          MANIFEST_ACCEPT,
          MAX_MANIFEST_BYTES,
          `manifest ${tagOrDigest}`,
        );
        if (answer.status === 404) return null;
        const digest = sha256Digest(answer.bytes);
        if (byDigest && digest !== tagOrDigest) {
          throw new CountersignError(
            'DIGEST_MISMATCH',
            `${name}: manifest asked as ${tagOrDigest} hashes to ${digest}`,
          );
        }
        const manifest = parseManifest(answer.bytes, answer.contentType);
        return { digest, mediaType: manifest.mediaType, bytes: answer.bytes };
      },

      async getBlob(digest: Digest, maxBytes: number): Promise<Uint8Array> {
        if (!isDigest(digest))
          throw new CountersignError('INVALID_REFERENCE', `'${String(digest)}' is not a sha256 digest`);
        const limit = Math.min(maxBytes, options.maxBlobBytes ?? Number.MAX_SAFE_INTEGER);
        const answer = await get(`/v2/${ref.repository}/blobs/${digest}`, '*/*', limit, `blob ${digest}`);
        if (answer.status === 404)
          throw new CountersignError('REGISTRY_ERROR', `${name}: blob ${digest} not found`);
        const actual = sha256Digest(answer.bytes);
        if (actual !== digest) {
          throw new CountersignError('DIGEST_MISMATCH', `${name}: blob ${digest} hashes to ${actual}`);
        }
        return answer.bytes;
      },

      async getReferrers(digest: Digest): Promise<FetchedManifest | null> {
        if (!isDigest(digest))
          throw new CountersignError('INVALID_REFERENCE', `'${String(digest)}' is not a sha256 digest`);
        const answer = await get(
          `/v2/${ref.repository}/referrers/${digest}`,
          MEDIA_TYPES.ociIndex,
          MAX_MANIFEST_BYTES,
          `referrers of ${digest}`,
        );
        // distribution-spec "Listing Referrers": a registry without the API answers 404; one that
        // answers something other than an OCI index does not implement it either.
        if (answer.status === 404) return null;
        if (answer.contentType === undefined || bareMediaType(answer.contentType) !== MEDIA_TYPES.ociIndex)
          return null;
        const index = parseManifest(answer.bytes, answer.contentType);
        if (index.kind !== 'index') {
          throw new CountersignError(
            'MANIFEST_INVALID',
            `${name}: referrers answer for ${digest} is not an index`,
          );
        }
        return { digest: sha256Digest(answer.bytes), mediaType: index.mediaType, bytes: answer.bytes };
      },

      /** distribution-spec "Listing Tags": the first page only; 404 means no tags. */
      async listTags(): Promise<readonly string[]> {
        const answer = await get(
          `/v2/${ref.repository}/tags/list`,
          'application/json',
          MAX_MANIFEST_BYTES,
          `tags of ${name}`,
        );
        if (answer.status === 404) return [];
        let doc: unknown;
        try {
          doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(answer.bytes));
        } catch {
          throw new CountersignError('REGISTRY_ERROR', `${name}: tag list is not JSON`);
        }
        const tags = (doc as { tags?: unknown } | null)?.tags;
        return Array.isArray(tags) ? tags.filter((t): t is string => typeof t === 'string') : [];
      },
    };
  }

  return {
    source,
    async close() {
      const closing = [...agents.values()].map((a) => a.destroy());
      agents.clear();
      await Promise.all(closing);
    },
  };
}

/** A source for one repository with its own connections; close() releases them. */
export function createRegistrySource(
  ref: RegistryReference,
  options: RegistryOptions = {},
): ClosableImageSource {
  const client = createRegistryClient(options);
  const inner = client.source(ref);
  return {
    name: inner.name,
    getManifest: (tagOrDigest) => inner.getManifest(tagOrDigest),
    getBlob: (digest, maxBytes) => inner.getBlob(digest, maxBytes),
    getReferrers: (digest) => inner.getReferrers(digest),
    listTags: () => inner.listTags?.() ?? Promise.resolve([]),
    close: () => client.close(),
  };
}

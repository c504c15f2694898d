/**
 * One `POST /v1/verify` to the appliance (edge: network). Fails closed: a transport error, a
 * timeout, an oversized or malformed answer all come back as an `unavailable` outcome that the shim
 * turns into a denial. Redirects are not followed (the token must not travel elsewhere).
 */
import http from 'node:http';
import https from 'node:https';

/** What cosign's trust flags ask for; checked by the appliance against its own keys and roots only. */
export interface VerifyRequirements {
  /** sha256 hex of each key's SPKI DER. */
  readonly keys?: readonly string[];
  readonly certificateIdentity?: string;
  readonly certificateIdentityRegexp?: string;
  readonly certificateOidcIssuer?: string;
  readonly certificateOidcIssuerRegexp?: string;
  readonly trustRoot?: string;
}

export interface VerifyRequestBody {
  readonly image: string;
  readonly policy?: string;
  readonly require?: VerifyRequirements;
  readonly context?: { readonly caller?: string; readonly taskId?: string; readonly module?: string };
}

/** The parts of the appliance's decision the shim relies on; the rest is passed through. */
export interface ApplianceDecision {
  readonly allowed: boolean;
  readonly code: string | null;
  readonly explanation: string;
  readonly image: string;
  readonly digest: string | null;
  readonly pinned: string | null;
  readonly raw: Readonly<Record<string, unknown>>;
}

/** Why no decision could be had. Shim-level reasons, printed in brackets like error codes. */
export type UnavailableReason = 'APPLIANCE_UNREACHABLE' | 'APPLIANCE_TIMEOUT' | 'APPLIANCE_RESPONSE_INVALID';

export type VerifyOutcome =
  | { readonly kind: 'decision'; readonly decision: ApplianceDecision }
  /** The appliance answered with an error (`{code, message}`, 400/401/403/503...). */
  | { readonly kind: 'error'; readonly status: number; readonly code: string; readonly message: string }
  | { readonly kind: 'unavailable'; readonly reason: UnavailableReason; readonly message: string };

const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validates a 200 answer. An allow must name a well-formed digest; anything odd is not a decision. */
export function parseDecision(body: unknown): ApplianceDecision | string {
  if (!isRecord(body)) return 'answer is not a JSON object';
  const { allowed, code, explanation, image, digest, pinned } = body;
  if (typeof allowed !== 'boolean') return '"allowed" is not a boolean';
  if (code !== null && code !== undefined && typeof code !== 'string') return '"code" is not a string';
  if (typeof image !== 'string') return '"image" is not a string';
  const digestOk = typeof digest === 'string' && DIGEST.test(digest);
  const pinnedOk = typeof pinned === 'string' && typeof digest === 'string' && pinned.endsWith(`@${digest}`);
  if (allowed && !(digestOk && pinnedOk)) return 'an allow without a well-formed digest and pinned reference';
  return {
    allowed,
    code: typeof code === 'string' ? code : null,
    explanation: typeof explanation === 'string' ? explanation : '',
    image,
    digest: digestOk ? digest : null,
    pinned: typeof pinned === 'string' ? pinned : null,
    raw: body,
  };
}

function endpoint(base: URL): URL {
  const url = new URL(base.href);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/verify`;
  url.search = '';
  url.hash = '';
  return url;
}

export interface PostVerifyOptions {
  readonly baseUrl: URL;
  readonly token: string;
  readonly body: VerifyRequestBody;
  /** The whole exchange, connect to last byte. */
  readonly timeoutMs: number;
}

export function postVerify(options: PostVerifyOptions): Promise<VerifyOutcome> {
  const url = endpoint(options.baseUrl);
  const payload = Buffer.from(JSON.stringify(options.body), 'utf8');
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise<VerifyOutcome>((resolve) => {
    let settled = false;
    const finish = (outcome: VerifyOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => {
      finish({
        kind: 'unavailable',
        reason: 'APPLIANCE_TIMEOUT',
        message: `no answer from ${url.origin} within ${options.timeoutMs} ms`,
      });
    }, options.timeoutMs);
    const req = transport.request(
      url,
      {
        method: 'POST',
        agent: false,
        headers: {
          authorization: `Bearer ${options.token}`,
          'content-type': 'application/json',
          'content-length': String(payload.length),
          accept: 'application/json',
          connection: 'close',
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            finish({
              kind: 'unavailable',
              reason: 'APPLIANCE_RESPONSE_INVALID',
              message: `answer larger than ${MAX_RESPONSE_BYTES} bytes`,
            });
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (e) => {
          finish({ kind: 'unavailable', reason: 'APPLIANCE_UNREACHABLE', message: e.message });
        });
        res.on('end', () => {
          finish(interpret(res.statusCode ?? 0, Buffer.concat(chunks)));
        });
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => {
      finish({
        kind: 'unavailable',
        reason: 'APPLIANCE_UNREACHABLE',
        message: `cannot reach ${url.origin}: ${e.code ?? e.message}`,
      });
    });
    req.end(payload);
  });
}

function interpret(status: number, bytes: Buffer): VerifyOutcome {
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch {
    return {
      kind: 'unavailable',
      reason: 'APPLIANCE_RESPONSE_INVALID',
      message: `HTTP ${status} with a body that is not JSON`,
    };
  }
  if (status === 200) {
    const decision = parseDecision(body);
    return typeof decision === 'string'
      ? { kind: 'unavailable', reason: 'APPLIANCE_RESPONSE_INVALID', message: decision }
      : { kind: 'decision', decision };
  }
  const code = isRecord(body) && typeof body['code'] === 'string' ? body['code'] : `HTTP_${status}`;
  const message = isRecord(body) && typeof body['message'] === 'string' ? body['message'] : '';
  return { kind: 'error', status, code, message };
}

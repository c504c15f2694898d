/**
 * Who is asking, and may they (Part 11 §11.10(d), (g), (h)). Every route declares its access in
 * `config.access`; a route without one is closed to everybody. A caller authenticates with
 * `Authorization: Bearer cs_<id>_<secret>`, or, when the server asks for client certificates, with
 * a certificate whose subject CN names a registered, unrevoked caller. Every refusal is recorded
 * in the audit trail with the principal presented (token id or name, never the secret).
 */
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { roleAllows } from '../auth/index.ts';
import type { Access, RefusalReason, Role } from '../auth/index.ts';
import { CountersignError } from '../errors.ts';
import type { Appliance } from './appliance.ts';

export interface Principal {
  /** The registered caller's name: the audit entries' actor. */
  readonly name: string;
  readonly role: Role;
  readonly tokenId: string;
  readonly via: 'token' | 'client-certificate';
  /** Subject CN of a verified client certificate, when one was presented. */
  readonly certificateSubject?: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** The subject CN of a client certificate the TLS layer verified against the client CA, if any. */
export function clientCertificateName(socket: unknown): string | undefined {
  if (typeof socket !== 'object' || socket === null || !('getPeerCertificate' in socket)) return undefined;
  const tls = socket as TLSSocket;
  if (!tls.authorized) return undefined;
  const cert = tls.getPeerCertificate();
  const cn: unknown = (cert as { subject?: Record<string, unknown> } | undefined)?.subject?.['CN'];
  // Several CNs would make the identity ambiguous: refuse to pick one.
  return typeof cn === 'string' && cn !== '' ? cn : undefined;
}

type Refusal = {
  status: 401 | 403;
  reason: RefusalReason | 'forbidden';
  actor: string;
  detail: Record<string, string>;
};

function bearerToken(request: FastifyRequest): string | undefined | null {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const m = /^Bearer +(\S+) *$/i.exec(header);
  return m?.[1] ?? null;
}

function authenticate(appliance: Appliance, request: FastifyRequest): Principal | Refusal {
  const certName = clientCertificateName(request.raw.socket);
  const certPart = certName === undefined ? {} : { certificateSubject: certName };
  const token = bearerToken(request);
  if (token === null) {
    return { status: 401, reason: 'malformed', actor: certName ?? 'anonymous', detail: { ...certPart } };
  }
  if (token === undefined) {
    if (certName !== undefined) {
      const record = appliance.tokens.byName(certName);
      if (record !== undefined && record.revokedAt === null) {
        return {
          name: record.name,
          role: record.role,
          tokenId: record.id,
          via: 'client-certificate',
          ...certPart,
        };
      }
      return {
        status: 401,
        reason: record === undefined ? 'unknown' : 'revoked',
        actor: `cert:${certName}`,
        detail: { ...certPart },
      };
    }
    return { status: 401, reason: 'missing', actor: 'anonymous', detail: {} };
  }
  const result = appliance.tokens.authenticate(token);
  if (!result.ok) {
    const detail: Record<string, string> = { ...certPart };
    if (result.tokenId !== undefined) detail['tokenId'] = result.tokenId;
    const actor = result.name ?? (result.tokenId === undefined ? 'anonymous' : `token:${result.tokenId}`);
    return { status: 401, reason: result.reason, actor, detail };
  }
  return {
    name: result.record.name,
    role: result.record.role,
    tokenId: result.record.id,
    via: 'token',
    ...certPart,
  };
}

/** Adds the access check to every route registered after it (in this plugin and its children). */
export function installAccessControl(app: FastifyInstance, appliance: Appliance): void {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', (request, _reply, done) => {
    const refused = checkAccess(appliance, request);
    if (refused === undefined) done();
    else done(refused);
  });
}

/** Authenticates and authorises one request; returns the error to answer with, if refused. */
function checkAccess(appliance: Appliance, request: FastifyRequest): CountersignError | undefined {
  // The not-found handler has no route URL: it answers 404 to everybody alike.
  if (request.routeOptions.url === undefined) return undefined;
  const access = request.routeOptions.config.access;
  if (access === 'open') return undefined;
  const who = authenticate(appliance, request);
  let refusal: Refusal | undefined;
  if ('status' in who) {
    refusal = who;
  } else if (access === undefined || !roleAllows(who.role, access)) {
    refusal = {
      status: 403,
      reason: 'forbidden',
      actor: who.name,
      detail: { tokenId: who.tokenId, role: who.role, via: who.via },
    };
  } else {
    request.principal = who;
    return undefined;
  }
  appliance.metrics.authRefused(refusal.reason);
  try {
    appliance.record({
      kind: 'auth-refused',
      actor: refusal.actor,
      payload: {
        status: refusal.status,
        reason: refusal.reason,
        method: request.method,
        route: request.routeOptions.url,
        ...refusal.detail,
      },
    });
  } catch (e: unknown) {
    // The refusal stands either way; the failed record shows in metrics and logs.
    request.log.error({ err: e }, 'could not record a refused request');
  }
  return refusal.status === 401
    ? new CountersignError('UNAUTHENTICATED', 'a valid API token is required')
    : new CountersignError('FORBIDDEN', `this route needs the ${access ?? 'unknown'} permission`);
}

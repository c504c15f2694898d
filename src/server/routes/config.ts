/**
 * The configuration: policies (with their version history from the audit trail), keys and trust
 * roots to read (auditor, admin); changes and reloads (admin), each with a reason and recorded
 * with old and new content hashes (Part 11 §11.10(e), (k)).
 */
import type { FastifyPluginCallback } from 'fastify';
import type { AuditEntry } from '../../audit/index.ts';
import { CountersignError } from '../../errors.ts';
import type { Appliance, ChangeResult, ConfigTarget } from '../appliance.ts';
import { errorResponses } from '../errors.ts';

const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
const KEY_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\\.(pub|pem)$';

const reason = {
  type: 'string',
  minLength: 1,
  maxLength: 1024,
  description: 'Why: recorded in the audit trail',
} as const;

const changeResultSchema = {
  type: 'object',
  required: ['changed', 'target', 'name', 'oldHash', 'newHash', 'configVersion'],
  additionalProperties: false,
  properties: {
    changed: { type: 'boolean' },
    target: { type: 'string' },
    name: { type: 'string' },
    oldHash: { type: ['string', 'null'] },
    newHash: { type: ['string', 'null'] },
    configVersion: { type: 'string' },
    index: { type: 'integer', description: 'The config-change audit entry' },
  },
} as const;

const putBody = {
  type: 'object',
  required: ['reason', 'content'],
  additionalProperties: false,
  properties: { reason, content: { type: 'string', minLength: 1 } },
} as const;
const deleteBody = {
  type: 'object',
  required: ['reason'],
  additionalProperties: false,
  properties: { reason },
} as const;

const policySummary = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'source', 'contentHash', 'mode', 'default', 'images', 'threshold', 'signers'],
  properties: {
    name: { type: 'string' },
    source: { type: 'string' },
    contentHash: { type: 'string' },
    mode: { type: 'string' },
    default: { type: 'boolean' },
    images: { type: 'array', items: { type: 'string' } },
    threshold: { type: 'integer' },
    required: { type: 'array', items: { type: 'string' } },
    signers: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        properties: { name: { type: 'string' }, kind: { type: 'string' } },
      },
    },
  },
} as const;

const historyItem = {
  type: 'object',
  additionalProperties: false,
  properties: {
    index: { type: 'integer' },
    ts: { type: 'string' },
    actor: { type: 'string' },
    action: { type: 'string' },
    reason: { type: ['string', 'null'] },
    oldHash: { type: ['string', 'null'] },
    newHash: { type: ['string', 'null'] },
  },
} as const;

interface NameParams {
  readonly name: string;
}
interface PutBody {
  readonly reason: string;
  readonly content: string;
}
interface DeleteBody {
  readonly reason: string;
}

function payloadOf(entry: AuditEntry): Record<string, unknown> {
  const parsed: unknown = JSON.parse(entry.payloadText);
  return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** Every config-change entry about a policy, oldest first. */
function policyHistory(appliance: Appliance, name: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  let cursor: string | undefined;
  do {
    const page = appliance.audit.listEntries({
      kind: 'config-change',
      policy: name,
      limit: 1000,
      ...(cursor === undefined ? {} : { cursor }),
    });
    for (const entry of page.entries) {
      const p = payloadOf(entry);
      out.push({
        index: entry.index,
        ts: entry.ts,
        actor: entry.actor,
        action: str(p['action']) ?? 'unknown',
        reason: str(p['reason']),
        oldHash: str(p['oldHash']),
        newHash: str(p['newHash']),
      });
    }
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return out;
}

function changeRoutes(
  appliance: Appliance,
  app: Parameters<FastifyPluginCallback>[0],
  target: ConfigTarget,
  prefix: string,
  namePattern: string,
  bodyLimit: number,
): void {
  const params = {
    type: 'object',
    required: ['name'],
    properties: { name: { type: 'string', pattern: namePattern } },
  } as const;
  const response = { 200: changeResultSchema, ...errorResponses };
  app.put<{ Params: NameParams; Body: PutBody }>(
    `${prefix}/:name`,
    {
      bodyLimit,
      config: { access: 'admin' },
      schema: { summary: `Create or replace a ${target}`, params, body: putBody, response },
    },
    (request): Promise<ChangeResult> =>
      appliance.change({
        target,
        name: request.params.name,
        content: request.body.content,
        actor: request.principal?.name ?? 'anonymous',
        reason: request.body.reason,
      }),
  );
  app.delete<{ Params: NameParams; Body: DeleteBody }>(
    `${prefix}/:name`,
    {
      config: { access: 'admin' },
      schema: { summary: `Remove a ${target}`, params, body: deleteBody, response },
    },
    (request): Promise<ChangeResult> =>
      appliance.change({
        target,
        name: request.params.name,
        content: null,
        actor: request.principal?.name ?? 'anonymous',
        reason: request.body.reason,
      }),
  );
}

export function configRoutes(appliance: Appliance): FastifyPluginCallback {
  return (app, _options, done) => {
    const read = { access: 'read' } as const;
    app.get(
      '/v1/policies',
      {
        config: read,
        schema: {
          summary: 'The policies in force, with content hashes',
          response: {
            200: {
              type: 'object',
              additionalProperties: false,
              required: ['configVersion', 'policies'],
              properties: {
                configVersion: { type: 'string' },
                policies: { type: 'array', items: policySummary },
              },
            },
            ...errorResponses,
          },
        },
      },
      () => {
        const { config } = appliance.current();
        return {
          configVersion: config.version,
          policies: config.policies.map(({ policy: p }) => ({
            name: p.name,
            source: p.source,
            contentHash: p.contentHash,
            mode: p.mode,
            default: p.isDefault,
            images: p.images,
            threshold: p.threshold,
            required: p.required,
            signers: p.signers.map((s) => ({ name: s.name, kind: s.kind })),
          })),
        };
      },
    );

    app.get<{ Params: NameParams }>(
      '/v1/policies/:name',
      {
        config: read,
        schema: {
          summary: 'One policy: its text and its version history from the audit trail',
          params: {
            type: 'object',
            required: ['name'],
            properties: { name: { type: 'string', pattern: NAME_PATTERN } },
          },
          response: {
            200: {
              type: 'object',
              additionalProperties: false,
              required: ['name', 'source', 'contentHash', 'content', 'history'],
              properties: {
                name: { type: 'string' },
                source: { type: 'string' },
                contentHash: { type: 'string' },
                content: { type: 'string' },
                history: { type: 'array', items: historyItem },
              },
            },
            ...errorResponses,
          },
        },
      },
      (request) => {
        const text = appliance.current().policyTexts.get(request.params.name);
        const history = policyHistory(appliance, request.params.name);
        if (text === undefined) {
          throw new CountersignError('NOT_FOUND', `no policy named ${request.params.name} is in force`);
        }
        return {
          name: text.name,
          source: text.source,
          contentHash: text.contentHash,
          content: text.text,
          history,
        };
      },
    );

    app.get(
      '/v1/trust-roots',
      {
        config: read,
        schema: {
          summary: 'The trust roots in force',
          response: {
            200: {
              type: 'object',
              additionalProperties: false,
              properties: {
                trustRoots: {
                  type: 'array',
                  items: {
                    type: 'object',
                    additionalProperties: false,
                    properties: {
                      name: { type: 'string' },
                      contentHash: { type: 'string' },
                      caOnly: { type: 'boolean' },
                      certificateAuthorities: { type: 'boolean' },
                      tlogs: { type: 'boolean' },
                      ctlogs: { type: 'boolean' },
                      timestampAuthorities: { type: 'boolean' },
                    },
                  },
                },
              },
            },
            ...errorResponses,
          },
        },
      },
      () => ({
        trustRoots: [...appliance.current().config.trustRoots.values()].map((r) => ({
          name: r.name,
          contentHash: `sha256:${r.fingerprint}`,
          caOnly: r.caOnly,
          certificateAuthorities: r.hasCertificateAuthorities,
          tlogs: r.hasTlogs,
          ctlogs: r.hasCtlogs,
          timestampAuthorities: r.hasTimestampAuthorities,
        })),
      }),
    );

    app.get(
      '/v1/keys',
      {
        config: read,
        schema: {
          summary: 'The public keys in force',
          response: {
            200: {
              type: 'object',
              additionalProperties: false,
              properties: {
                keys: {
                  type: 'array',
                  items: {
                    type: 'object',
                    additionalProperties: false,
                    properties: {
                      name: { type: 'string' },
                      algorithm: { type: 'string' },
                      fingerprint: { type: 'string', description: 'sha256 over the SubjectPublicKeyInfo' },
                      contentHash: { type: ['string', 'null'] },
                    },
                  },
                },
              },
            },
            ...errorResponses,
          },
        },
      },
      () => {
        const { config } = appliance.current();
        return {
          keys: [...config.keys].map(([name, k]) => ({
            name,
            algorithm: k.algorithm,
            fingerprint: k.fingerprint,
            contentHash: config.files.find((f) => f.path === `keys/${name}`)?.contentHash ?? null,
          })),
        };
      },
    );

    changeRoutes(appliance, app, 'policy', '/v1/policies', NAME_PATTERN, 256 * 1024);
    changeRoutes(appliance, app, 'key', '/v1/keys', KEY_PATTERN, 64 * 1024);
    // A trusted_root.json with several CAs and logs outgrows 64 KiB.
    changeRoutes(appliance, app, 'trust-root', '/v1/trust-roots', NAME_PATTERN, 1024 * 1024);

    app.post<{ Body: DeleteBody }>(
      '/v1/admin/reload',
      {
        config: { access: 'admin' },
        schema: {
          summary: 'Reload the configuration directory; a failed load keeps the old configuration',
          body: deleteBody,
          response: {
            200: {
              type: 'object',
              additionalProperties: false,
              required: ['changed', 'previousVersion', 'configVersion'],
              properties: {
                changed: { type: 'boolean' },
                previousVersion: { type: 'string' },
                configVersion: { type: 'string' },
                index: { type: 'integer' },
              },
            },
            ...errorResponses,
          },
        },
      },
      (request) => appliance.reload(request.principal?.name ?? 'anonymous', request.body.reason),
    );
    done();
  };
}

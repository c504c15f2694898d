/**
 * Reading the audit trail (auditor, admin): entries with filters and cursor pagination, the latest
 * signed checkpoint, one entry with its inclusion proof, and consistency proofs between sizes
 * (RFC 9162 §2.1.3, §2.1.4), all checkable offline against the appliance's public key.
 */
import type { FastifyPluginCallback } from 'fastify';
import { AUDIT_KINDS, applianceVerifierKey } from '../../audit/index.ts';
import type { AuditEntry, AuditKind, ListQuery } from '../../audit/index.ts';
import { CountersignError } from '../../errors.ts';
import type { Appliance } from '../appliance.ts';
import { errorResponses } from '../errors.ts';

const b64 = (h: Uint8Array): string => Buffer.from(h).toString('base64');

export const entrySchema = {
  $id: 'AuditEntry',
  type: 'object',
  additionalProperties: false,
  required: ['index', 'ts', 'kind', 'actor', 'payload', 'payloadText', 'entryHash'],
  properties: {
    index: { type: 'integer' },
    ts: { type: 'string', description: 'Server UTC time' },
    kind: { type: 'string', enum: [...AUDIT_KINDS] },
    actor: { type: 'string' },
    payload: { type: 'object', additionalProperties: true },
    payloadText: { type: 'string', description: 'The payload exactly as hashed (canonical JSON)' },
    softwareVersion: { type: 'string' },
    clockSteppedBack: { type: 'boolean' },
    prevTs: { type: ['string', 'null'] },
    entryHash: { type: 'string', description: 'RFC 6962 leaf hash, base64' },
  },
} as const;

export function entryJson(e: AuditEntry): Record<string, unknown> {
  return {
    index: e.index,
    ts: e.ts,
    kind: e.kind,
    actor: e.actor,
    payload: JSON.parse(e.payloadText) as unknown,
    payloadText: e.payloadText,
    softwareVersion: e.softwareVersion,
    clockSteppedBack: e.clockSteppedBack,
    prevTs: e.prevTs,
    entryHash: b64(e.entryHash),
  };
}

const checkpointSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['origin', 'size', 'root', 'note'],
  properties: {
    origin: { type: 'string' },
    size: { type: 'integer' },
    root: { type: 'string', description: 'base64' },
    note: { type: 'string', description: 'C2SP signed note' },
    ts: { type: 'string' },
    softwareVersion: { type: 'string' },
    publicKey: { type: 'string', description: 'The appliance key (SPKI PEM) that signs checkpoints' },
    verifierKey: {
      type: 'string',
      description: 'The same key as a golang.org/x/mod/sumdb/note verifier key',
    },
  },
} as const;

interface ListQs {
  readonly from?: string;
  readonly to?: string;
  readonly kind?: AuditKind;
  readonly decision?: 'allow' | 'deny';
  readonly image?: string;
  readonly policy?: string;
  readonly caller?: string;
  readonly cursor?: string;
  readonly limit?: number;
  readonly order?: 'asc' | 'desc';
}

const filterString = { type: 'string', minLength: 1, maxLength: 2048 } as const;

export function auditRoutes(appliance: Appliance): FastifyPluginCallback {
  return (app, _options, done) => {
    const read = { access: 'read' } as const;

    app.get<{ Querystring: ListQs }>(
      '/v1/audit',
      {
        config: read,
        schema: {
          summary: 'Audit entries, filtered and paginated (cursor from nextCursor)',
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              from: { type: 'string', format: 'date-time', description: 'Inclusive, ISO 8601' },
              to: { type: 'string', format: 'date-time', description: 'Exclusive, ISO 8601' },
              kind: { type: 'string', enum: [...AUDIT_KINDS] },
              decision: { type: 'string', enum: ['allow', 'deny'] },
              image: { ...filterString, description: 'Image reference or digest, exact' },
              policy: { ...filterString, description: 'Policy name' },
              caller: { ...filterString, description: 'Actor (token name), exact' },
              cursor: { type: 'string', pattern: '^(0|[1-9][0-9]{0,15})$' },
              limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
              order: { type: 'string', enum: ['asc', 'desc'], default: 'asc' },
            },
          },
          response: {
            200: {
              type: 'object',
              additionalProperties: false,
              required: ['entries'],
              properties: {
                entries: { type: 'array', items: { $ref: 'AuditEntry#' } },
                nextCursor: { type: 'string' },
              },
            },
            ...errorResponses,
          },
        },
      },
      (request) => {
        const query: ListQuery = request.query;
        const page = appliance.audit.listEntries(query);
        return {
          entries: page.entries.map(entryJson),
          ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
        };
      },
    );

    app.get(
      '/v1/audit/checkpoint',
      {
        config: read,
        schema: {
          summary: 'The latest signed checkpoint',
          response: { 200: checkpointSchema, ...errorResponses },
        },
      },
      () => {
        const cp = appliance.audit.latestCheckpoint();
        const key = appliance.key;
        return {
          origin: appliance.audit.origin,
          size: cp.size,
          root: b64(cp.root),
          note: cp.note,
          ts: cp.ts,
          softwareVersion: cp.softwareVersion,
          ...(key === undefined
            ? {}
            : {
                publicKey: key.publicKeyPem,
                verifierKey: applianceVerifierKey(key, appliance.audit.origin),
              }),
        };
      },
    );

    app.get<{ Params: { index: number } }>(
      '/v1/audit/entries/:index',
      {
        config: read,
        schema: {
          summary: 'One entry with its inclusion proof in the latest checkpoint',
          params: {
            type: 'object',
            required: ['index'],
            properties: { index: { type: 'integer', minimum: 0 } },
          },
          response: {
            200: {
              type: 'object',
              additionalProperties: false,
              required: ['entry', 'checkpoint', 'inclusionProof'],
              properties: {
                entry: { $ref: 'AuditEntry#' },
                checkpoint: {
                  type: 'object',
                  additionalProperties: false,
                  properties: { size: { type: 'integer' }, note: { type: 'string' } },
                },
                inclusionProof: {
                  type: 'object',
                  additionalProperties: false,
                  properties: {
                    leafIndex: { type: 'integer' },
                    treeSize: { type: 'integer' },
                    hashes: { type: 'array', items: { type: 'string' } },
                  },
                },
              },
            },
            ...errorResponses,
          },
        },
      },
      (request) => {
        const found = appliance.audit.getEntry(request.params.index);
        return {
          entry: entryJson(found.entry),
          checkpoint: { size: found.checkpoint.size, note: found.checkpoint.note },
          inclusionProof: {
            leafIndex: found.inclusionProof.leafIndex,
            treeSize: found.inclusionProof.treeSize,
            hashes: found.inclusionProof.hashes.map(b64),
          },
        };
      },
    );

    app.get<{ Querystring: { from: number; to?: number } }>(
      '/v1/audit/consistency',
      {
        config: read,
        schema: {
          summary: 'RFC 9162 consistency proof between two tree sizes (to: default the latest)',
          querystring: {
            type: 'object',
            required: ['from'],
            additionalProperties: false,
            properties: { from: { type: 'integer', minimum: 0 }, to: { type: 'integer', minimum: 0 } },
          },
          response: {
            200: {
              type: 'object',
              additionalProperties: false,
              required: ['from', 'to', 'hashes'],
              properties: {
                from: { type: 'integer' },
                to: { type: 'integer' },
                hashes: { type: 'array', items: { type: 'string' } },
                checkpoint: {
                  type: 'string',
                  description: 'The signed checkpoint at size `to`, when it is the latest',
                },
              },
            },
            ...errorResponses,
          },
        },
      },
      (request) => {
        const { from } = request.query;
        const latest = appliance.audit.latestCheckpoint();
        const to = request.query.to ?? latest.size;
        if (to > latest.size)
          throw new CountersignError('REQUEST_INVALID', `to ${to} is beyond the log (${latest.size})`);
        const hashes = appliance.audit.consistencyProof(from, to).map(b64);
        return { from, to, hashes, ...(to === latest.size ? { checkpoint: latest.note } : {}) };
      },
    );
    done();
  };
}

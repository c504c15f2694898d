/**
 * POST /v1/verify: one decision, recorded before it is answered (DESIGN.md step 7). A deny is a
 * normal 200 answer; when the entry cannot be written the answer is 503 and never an allow.
 */
import type { FastifyPluginCallback } from 'fastify';
import type { AppendResult, JsonObject, JsonValue } from '../../audit/index.ts';
import { verifyImage } from '../../decision/verify-image.ts';
import type { VerificationOutcome } from '../../decision/verify-image.ts';
import { CountersignError, errorClassOf, isCountersignError, toCountersignError } from '../../errors.ts';
import { normalisedName, parseReference } from '../../oci/index.ts';
import { selectPolicies } from '../../policy/index.ts';
import type { BoundPolicy, PolicyOutcome } from '../../policy/index.ts';
import type { Appliance } from '../appliance.ts';
import { errorResponses } from '../errors.ts';
import { requiredPolicy, requireSchema } from './verify-require.ts';
import type { VerifyRequire } from './verify-require.ts';

export interface VerifyBody {
  readonly image: string;
  readonly policy?: string;
  readonly require?: VerifyRequire;
  readonly context?: { readonly caller?: string; readonly taskId?: string; readonly module?: string };
}

const contextString = { type: 'string', minLength: 1, maxLength: 256 } as const;

const bodySchema = {
  type: 'object',
  required: ['image'],
  additionalProperties: false,
  properties: {
    image: {
      type: 'string',
      minLength: 1,
      maxLength: 2048,
      description: 'host/repo:tag, host/repo@sha256:..., or oci:DIR[:tag|@digest] inside a layout root',
    },
    policy: {
      type: 'string',
      pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
      description: 'A policy the image must pass in addition to every policy matching it',
    },
    require: requireSchema,
    context: {
      type: 'object',
      additionalProperties: false,
      description:
        'What the caller says about the request; recorded apart from server time. No patient data.',
      properties: { caller: contextString, taskId: contextString, module: contextString },
    },
  },
} as const;

const reasonSchema = {
  type: 'object',
  required: ['code', 'detail'],
  additionalProperties: false,
  properties: {
    code: { type: 'string' },
    detail: { type: 'string' },
    signatureId: { type: ['string', 'null'] },
  },
} as const;

const responseSchema = {
  type: 'object',
  required: ['allowed', 'code', 'explanation', 'image', 'digest', 'pinned', 'policies', 'cached', 'receipt'],
  additionalProperties: false,
  properties: {
    allowed: { type: 'boolean' },
    code: { type: ['string', 'null'], description: 'Reason code of a denial; null for an allow' },
    explanation: { type: 'string' },
    image: { type: 'string' },
    digest: { type: ['string', 'null'], description: 'The resolved digest: run this, not the tag' },
    pinned: { type: ['string', 'null'], description: 'name@sha256:...' },
    policies: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'contentHash', 'mode', 'passed', 'explanation', 'signers'],
        properties: {
          name: { type: 'string' },
          contentHash: { type: 'string' },
          source: { type: 'string', description: "policies/<file>, or ad-hoc for the request's require" },
          mode: { type: 'string', enum: ['enforce', 'warn'] },
          passed: { type: 'boolean' },
          code: { type: ['string', 'null'] },
          satisfied: { type: 'integer' },
          threshold: { type: 'integer' },
          explanation: { type: 'string' },
          signers: {
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['name', 'satisfied', 'by', 'reasons'],
              properties: {
                name: { type: 'string' },
                required: { type: 'boolean' },
                satisfied: { type: 'boolean' },
                by: {
                  type: ['object', 'null'],
                  additionalProperties: false,
                  properties: { signatureId: { type: 'string' }, identity: { type: 'string' } },
                },
                reasons: { type: 'array', items: reasonSchema },
              },
            },
          },
        },
      },
    },
    signatures: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        properties: { id: { type: 'string' }, format: { type: 'string' } },
      },
    },
    rejected: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        properties: { id: { type: 'string' }, code: { type: 'string' }, detail: { type: 'string' } },
      },
    },
    attestations: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        properties: { id: { type: 'string' }, predicateType: { type: 'string' } },
      },
    },
    notes: { type: 'array', items: { type: 'string' } },
    warnings: { type: 'array', items: { type: 'string' } },
    cached: {
      type: 'boolean',
      description: 'True when the allow came from the decision cache; the decision is audited all the same',
    },
    receipt: { $ref: 'Receipt#' },
  },
} as const;

export const receiptSchema = {
  $id: 'Receipt',
  type: 'object',
  required: ['index', 'entryHash', 'checkpoint', 'inclusionProof'],
  additionalProperties: false,
  description: 'The audit entry of this answer: its index, the signed checkpoint including it, and the proof',
  properties: {
    index: { type: 'integer' },
    entryHash: {
      type: 'string',
      description: 'RFC 6962 leaf hash of the entry, base64: keep it to find and check the entry later',
    },
    checkpoint: { type: 'string', description: 'C2SP signed note (tlog-checkpoint)' },
    inclusionProof: {
      type: 'object',
      required: ['leafIndex', 'treeSize', 'hashes'],
      additionalProperties: false,
      properties: {
        leafIndex: { type: 'integer' },
        treeSize: { type: 'integer' },
        hashes: { type: 'array', items: { type: 'string', description: 'base64' } },
      },
    },
  },
} as const;

export function receiptOf(r: AppendResult): JsonObject {
  return {
    index: r.index,
    entryHash: Buffer.from(r.entryHash).toString('base64'),
    checkpoint: r.checkpoint,
    inclusionProof: {
      leafIndex: r.inclusionProof.leafIndex,
      treeSize: r.inclusionProof.treeSize,
      hashes: r.inclusionProof.hashes.map((h) => Buffer.from(h).toString('base64')),
    },
  };
}

export interface PolicyChoice {
  /** What verifyImage evaluates: each of these is selected for the image. */
  readonly policies: readonly BoundPolicy[];
  /** The image's own policies are the configured default ones (nothing else matched). */
  readonly usedDefault: boolean;
}

/** The policy with its patterns set aside: selected for every image (and never as a mere default). */
function pinned(b: BoundPolicy): BoundPolicy {
  if (b.policy.images.length === 1 && b.policy.images[0] === '**' && !b.policy.isDefault) return b;
  return { policy: { ...b.policy, images: ['**'], isDefault: false }, trust: b.trust };
}

/**
 * The policies to evaluate for an image. A caller can add requirements, never take any away:
 * - a named policy is added to the image's own policies, its patterns set aside;
 * - the ad-hoc policy of `require` is added likewise, but only when the configuration itself says
 *   something about the image (a matching policy, a default one, or a named one): otherwise the
 *   decision stays NO_MATCHING_POLICY, so that a caller's keys alone never admit an image.
 * The image's own policies are selected here, once, and pinned: selection is by "matching, else
 * default", and an added policy that matched every image would otherwise push a default aside.
 */
export function policiesFor(
  image: string,
  all: readonly BoundPolicy[],
  name: string | undefined,
  required?: BoundPolicy,
): PolicyChoice {
  const own = selectPolicies(image, all);
  if (name === undefined && required === undefined) return { policies: all, usedDefault: own.usedDefault };
  const chosen = [...own.selected];
  if (name !== undefined) {
    const named = all.find((b) => b.policy.name === name);
    if (named === undefined) throw new CountersignError('REQUEST_INVALID', `no policy named ${name}`);
    if (!chosen.includes(named)) chosen.push(named);
  }
  if (required !== undefined && chosen.length > 0) chosen.push(required);
  return { policies: chosen.map(pinned), usedDefault: own.usedDefault };
}

function policyRecord(p: PolicyOutcome): JsonObject {
  return {
    name: p.name,
    contentHash: p.contentHash,
    source: p.source,
    mode: p.mode,
    passed: p.passed,
    code: p.code,
    satisfied: p.satisfied,
    threshold: p.threshold,
    signers: p.signers.map((s) => ({
      name: s.name,
      required: s.required,
      satisfied: s.satisfied,
      by: s.by === null ? null : { signatureId: s.by.signatureId, identity: s.by.identityKey },
      reasons: s.reasons.map((r) => ({ code: r.code, signatureId: r.signatureId, detail: r.detail })),
    })),
  };
}

/** The audit payload of a decision: what, under which versions, and why. No patient data. */
export function decisionPayload(
  outcome: VerificationOutcome,
  body: VerifyBody,
  configVersion: string,
  request: { readonly usedDefault?: boolean; readonly required?: BoundPolicy } = {},
): JsonObject {
  const context: Record<string, JsonValue> = {};
  for (const k of ['caller', 'taskId', 'module'] as const) {
    const v = body.context?.[k];
    if (v !== undefined) context[k] = v;
  }
  return {
    decision: outcome.allowed ? 'allow' : 'deny',
    code: outcome.code,
    explanation: outcome.explanation,
    image: outcome.image,
    digest: outcome.digest ?? null,
    pinned: outcome.pinned ?? null,
    requestedPolicy: body.policy ?? null,
    // The caller's own requirements as sent, and the version of the policy built from them (also
    // when it was not evaluated because no configured policy applies to the image).
    require: body.require === undefined ? null : requireRecord(body.require),
    adHocPolicy:
      request.required === undefined
        ? null
        : {
            name: request.required.policy.name,
            contentHash: request.required.policy.contentHash,
            signers: request.required.policy.signers.map((s) => s.name),
          },
    context,
    policies: (outcome.decision?.policies ?? []).map(policyRecord),
    usedDefaultPolicy: request.usedDefault ?? outcome.decision?.usedDefaultPolicy ?? false,
    signatures: outcome.signatures.map((s) => ({ id: s.id, format: s.format })),
    rejected: outcome.rejected.map((r) => ({ id: r.id, code: r.code })),
    // A cached allow is recorded like any other, and says where it came from.
    cached: outcome.cached === true,
    configVersion,
  };
}

function requireRecord(r: VerifyRequire): JsonObject {
  const out: Record<string, JsonValue> = {};
  if (r.keys !== undefined) out['keys'] = [...r.keys];
  for (const k of [
    'certificateIdentity',
    'certificateIdentityRegexp',
    'certificateOidcIssuer',
    'certificateOidcIssuerRegexp',
    'trustRoot',
  ] as const) {
    const v = r[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

export function verifyRoutes(appliance: Appliance): FastifyPluginCallback {
  return (app, _options, done) => {
    app.post<{ Body: VerifyBody }>(
      '/v1/verify',
      {
        config: { access: 'verify' },
        schema: {
          summary: 'Decide whether an image may run; the answer carries its audit receipt',
          body: bodySchema,
          response: { 200: responseSchema, ...errorResponses },
        },
      },
      async (request) => {
        // Group commit waits for this decision's entry rather than committing without it.
        const ticket = appliance.beginDecision();
        try {
          const started = performance.now();
          const lease = appliance.lease();
          const state = lease.state;
          const body = request.body;
          let outcome: VerificationOutcome;
          let usedDefault: boolean | undefined;
          let required: BoundPolicy | undefined;
          try {
            // Usage errors (a malformed reference or require, an unknown key) answer 400, unrecorded.
            required = body.require === undefined ? undefined : requiredPolicy(state.config, body.require);
            const choice = policiesFor(
              normalisedName(parseReference(body.image)),
              state.config.policies,
              body.policy,
              required,
            );
            usedDefault = choice.usedDefault;
            outcome = await verifyImage({
              image: body.image,
              policies: choice.policies,
              registry: state.registry,
              client: state.client,
              ...(state.cache === undefined ? {} : { cache: state.cache }),
              discovery: {
                maxSignatureBlobBytes: state.config.settings.limits.maxSignatureBytes,
                maxAttachments: 64,
              },
              layoutRoots: state.layoutRoots,
            });
          } catch (e: unknown) {
            if (isCountersignError(e) && errorClassOf(e.code) === 'usage') throw e;
            // Anything else is a failure of ours: fail closed, and still on the record.
            request.log.error({ err: e }, 'verification failed unexpectedly');
            const err = toCountersignError(e);
            outcome = {
              allowed: false,
              code: err.code,
              explanation: `denied: verification failed [${err.code}]`,
              image: body.image,
              signatures: [],
              rejected: [],
              attestations: [],
              notes: [],
            };
          } finally {
            lease.release();
          }
          if (state.cache !== undefined) appliance.metrics.decisionCache(outcome.cached === true);
          const policyNames = (outcome.decision?.policies ?? []).map((p) => p.name);
          const principal = request.principal;
          let receipt: AppendResult;
          try {
            // Answered only once the group commit holding this entry is durable.
            receipt = await ticket.record({
              kind: 'decision',
              actor: principal?.name ?? 'anonymous',
              payload: decisionPayload(outcome, body, state.config.version, {
                ...(usedDefault === undefined ? {} : { usedDefault }),
                ...(required === undefined ? {} : { required }),
              }),
            });
          } catch (e: unknown) {
            appliance.metrics.decision('unrecorded', policyNames, (performance.now() - started) / 1000);
            request.log.error({ err: e }, 'decision could not be recorded: answering 503');
            throw new CountersignError(
              'AUDIT_UNAVAILABLE',
              'the decision could not be recorded; nothing is allowed',
            );
          }
          appliance.metrics.decision(
            outcome.allowed ? 'allow' : 'deny',
            policyNames,
            (performance.now() - started) / 1000,
          );
          // Returned, not sent: fastify serialises it with the response schema.
          return {
            allowed: outcome.allowed,
            code: outcome.code,
            explanation: outcome.explanation,
            image: outcome.image,
            digest: outcome.digest ?? null,
            pinned: outcome.pinned ?? null,
            policies: (outcome.decision?.policies ?? []).map((p) => ({
              ...policyRecord(p),
              explanation: p.explanation,
            })),
            signatures: outcome.signatures,
            rejected: outcome.rejected,
            attestations: outcome.attestations,
            notes: outcome.notes,
            warnings: outcome.decision?.warnings ?? [],
            cached: outcome.cached === true,
            receipt: receiptOf(receipt),
          };
        } finally {
          ticket.abandon();
        }
      },
    );
    done();
  };
}

/**
 * Every error answer is `{code, message}` with the code from src/errors.ts; the HTTP status comes
 * from the same table. Unexpected failures say nothing about their insides.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { httpStatusFor, isCountersignError } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';

export const errorSchema = {
  $id: 'Error',
  type: 'object',
  required: ['code', 'message'],
  additionalProperties: false,
  properties: {
    code: { type: 'string', description: 'Reason code (src/errors.ts)' },
    message: { type: 'string' },
  },
} as const;

/** The error answers every route may give, by status class. */
export const errorResponses = {
  '4xx': { $ref: 'Error#' },
  '5xx': { $ref: 'Error#' },
} as const;

interface ErrorBody {
  readonly code: ErrorCode;
  readonly message: string;
}

function isFastifyError(e: unknown): e is FastifyError {
  return e instanceof Error && 'code' in e && typeof e.code === 'string';
}

/** Status and body for anything thrown while serving a request. */
export function errorAnswer(e: unknown): { status: number; body: ErrorBody; internal: boolean } {
  if (isCountersignError(e)) {
    const status = httpStatusFor(e.code);
    // A denial or unreachable code thrown outside a decision is a bug in the route, not an answer.
    if (status === 200) return { status: 500, body: { code: e.code, message: e.message }, internal: true };
    return { status, body: { code: e.code, message: e.message }, internal: status >= 500 };
  }
  if (isFastifyError(e)) {
    if (e.validation !== undefined) {
      return { status: 400, body: { code: 'REQUEST_INVALID', message: e.message }, internal: false };
    }
    const status = e.statusCode ?? 500;
    if (status === 413) {
      return { status, body: { code: 'SIZE_LIMIT_EXCEEDED', message: e.message }, internal: false };
    }
    if (status >= 400 && status < 500) {
      return { status, body: { code: 'REQUEST_INVALID', message: e.message }, internal: false };
    }
  }
  return { status: 500, body: { code: 'INTERNAL', message: 'internal error' }, internal: true };
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const answer = errorAnswer(error);
    if (answer.internal) request.log.error({ err: error }, 'request failed');
    else request.log.info({ code: answer.body.code }, 'request refused');
    return reply.code(answer.status).send(answer.body);
  });
  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) =>
    reply.code(404).send({ code: 'NOT_FOUND', message: `no route ${request.method} ${request.url}` }),
  );
}

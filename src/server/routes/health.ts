/** Liveness, readiness and metrics. /healthz and /readyz are open; /metrics needs a reader. */
import type { FastifyPluginCallback } from 'fastify';
import type { Appliance } from '../appliance.ts';
import { errorResponses } from '../errors.ts';

const statusSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['status'],
  properties: {
    status: { type: 'string' },
    configVersion: { type: 'string' },
    auditSize: { type: 'integer' },
    reason: { type: 'string' },
  },
} as const;

export function healthRoutes(appliance: Appliance): FastifyPluginCallback {
  return (app, _options, done) => {
    app.get(
      '/healthz',
      {
        config: { access: 'open' },
        schema: { summary: 'The process answers', response: { 200: statusSchema } },
      },
      () => ({ status: 'ok' }),
    );
    app.get(
      '/readyz',
      {
        config: { access: 'open' },
        schema: {
          summary: 'Configuration loaded and audit database writable',
          response: { 200: statusSchema, 503: statusSchema },
        },
      },
      (request, reply) => {
        try {
          appliance.checkReady();
        } catch (e: unknown) {
          request.log.warn({ err: e }, 'not ready');
          return reply.code(503).send({ status: 'unavailable', reason: 'audit database is not writable' });
        }
        return {
          status: 'ready',
          configVersion: appliance.current().config.version,
          auditSize: appliance.audit.size(),
        };
      },
    );
    app.get(
      '/metrics',
      {
        config: { access: 'read' },
        schema: {
          summary: 'Prometheus metrics (text exposition format 0.0.4)',
          response: { 200: { type: 'string' }, ...errorResponses },
        },
      },
      (_request, reply) =>
        reply.type('text/plain; version=0.0.4; charset=utf-8').send(appliance.metrics.render()),
    );
    done();
  };
}

/**
 * The HTTP API as a fastify plugin (fastify/demo layout): shared schemas, error answers, access
 * control, then one encapsulated plugin per group of routes. Nothing here listens; server.ts does.
 */
import Fastify, { LogController } from 'fastify';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import { pino } from 'pino';
import type { DestinationStream, Logger, LevelWithSilent } from 'pino';
import type { Appliance } from './appliance.ts';
import { installAccessControl } from './auth.ts';
import { installErrorHandling, errorSchema } from './errors.ts';
import { collectRoutes, docsPage, openApiDocument } from './openapi.ts';
import { auditRoutes, entrySchema } from './routes/audit.ts';
import { configRoutes } from './routes/config.ts';
import { exportRoutes } from './routes/export.ts';
import { healthRoutes } from './routes/health.ts';
import { uiRoutes } from './routes/ui.ts';
import { receiptSchema, verifyRoutes } from './routes/verify.ts';

/** Every request body is small; the few routes that take more say so themselves. */
export const BODY_LIMIT = 64 * 1024;

/** Paths whose values are secrets: never in a log line, whatever logs them. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'token',
  '*.token',
  'secret',
  '*.secret',
];

export function createLogger(
  options: { level?: LevelWithSilent; destination?: DestinationStream } = {},
): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { service: 'countersign' },
    },
    options.destination ?? pino.destination(2),
  );
}

export interface AppOptions {
  readonly appliance: Appliance;
}

export const appPlugin: FastifyPluginAsync<AppOptions> = async (app, { appliance }) => {
  for (const schema of [errorSchema, receiptSchema, entrySchema]) app.addSchema(schema);
  const collector = collectRoutes(app);
  installErrorHandling(app);
  installAccessControl(app, appliance);
  // The app is the appliance's one user: closing it commits queued entries and drops connections.
  app.addHook('onClose', async () => {
    await appliance.close();
  });
  // One line per answer, at debug: every decision is in the audit trail already, refusals and
  // failures get their own line from the error handler, and at info these lines cost about a
  // fifth of the throughput at 64 connections (scripts/bench.ts).
  app.addHook('onResponse', (request, reply, done) => {
    request.log.debug(
      {
        method: request.method,
        route: request.routeOptions.url,
        statusCode: reply.statusCode,
        responseTime: reply.elapsedTime,
      },
      'request completed',
    );
    done();
  });

  await app.register(healthRoutes(appliance));
  await app.register(verifyRoutes(appliance));
  await app.register(configRoutes(appliance));
  await app.register(auditRoutes(appliance));
  await app.register(exportRoutes(appliance));
  await app.register(uiRoutes());

  let document: Record<string, unknown> | undefined;
  const openApi = (): Record<string, unknown> =>
    (document ??= openApiDocument(collector, {
      version: appliance.softwareVersion,
      components: { Error: errorSchema, Receipt: receiptSchema, AuditEntry: entrySchema },
    }));
  app.get('/openapi.json', { config: { access: 'open' }, schema: { hide: true } }, () => openApi());
  app.get('/docs', { config: { access: 'open' }, schema: { hide: true } }, (_request, reply) =>
    reply.type('text/html; charset=utf-8').send(docsPage(openApi())),
  );
};
// Like fastify-plugin: the error handler, hooks and schemas apply to the instance it is registered on.
Object.defineProperty(appPlugin, Symbol.for('skip-override'), { value: true });

export interface CreateAppOptions extends AppOptions {
  readonly logger?: Logger;
  readonly https?: HttpsServerOptions;
}

/** A fastify instance with the API registered, not listening: tests use `inject`, server.ts listens. */
export async function createApp(options: CreateAppOptions): Promise<FastifyInstance> {
  const base = {
    bodyLimit: BODY_LIMIT,
    // Unknown fields are errors, never silently dropped.
    ajv: { customOptions: { removeAdditional: false } },
    return503OnClosing: true,
    // Replaced by the onResponse line in appPlugin (at debug).
    logController: new LogController({ disableRequestLogging: true }),
  };
  const logging = options.logger === undefined ? { logger: false } : { loggerInstance: options.logger };
  // One type for both: the routes never touch the raw server.
  const app: FastifyInstance =
    options.https === undefined
      ? (Fastify({ ...base, ...logging }) as unknown as FastifyInstance)
      : (Fastify({ ...base, ...logging, https: options.https }) as unknown as FastifyInstance);
  await app.register(appPlugin, { appliance: options.appliance });
  return app;
}

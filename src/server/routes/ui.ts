/**
 * The auditors' web page: static files from src/server/ui, read once at start and served under
 * `/ui/` with a strict Content-Security-Policy (no inline script or style, nothing from another
 * origin: the appliance runs air-gapped). The files hold no data and no secret, so they are open;
 * the page asks for a token and reads the JSON API with it, which checks the role as for any client.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginCallback, FastifyReply } from 'fastify';
import { CountersignError } from '../../errors.ts';

/** Files served, and their types. Anything else under /ui/ is 404. */
const ASSETS: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

export const UI_CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The assets directory: beside this file's folder when run from source (the container and
 * systemd installs do); from a `dist/` build, the source tree's copy, as tsc does not copy assets.
 */
export function uiAssetsDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, '..', 'ui'), path.join(here, '..', '..', '..', 'src', 'server', 'ui')];
  const found = candidates.find((dir) => existsSync(path.join(dir, 'index.html')));
  if (found === undefined) {
    throw new CountersignError(
      'INTERNAL',
      `the auditor page's files are missing (looked in ${candidates.join(', ')})`,
    );
  }
  return found;
}

function securityHeaders(reply: FastifyReply, type: string): FastifyReply {
  return reply
    .type(type)
    .header('content-security-policy', UI_CONTENT_SECURITY_POLICY)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cross-origin-opener-policy', 'same-origin')
    .header('cache-control', 'no-cache');
}

export function uiRoutes(assetsDir: string = uiAssetsDir()): FastifyPluginCallback {
  const files = new Map<string, { type: string; body: Buffer }>();
  for (const [name, type] of Object.entries(ASSETS)) {
    files.set(name, { type, body: readFileSync(path.join(assetsDir, name)) });
  }
  return (app, _options, done) => {
    const open = { access: 'open' } as const;
    const serve = (name: string, reply: FastifyReply): FastifyReply => {
      const file = files.get(name);
      if (file === undefined) throw new CountersignError('NOT_FOUND', `no file ${name}`);
      return securityHeaders(reply, file.type).send(file.body);
    };
    app.get('/ui', { config: open, schema: { hide: true } }, (_request, reply) => reply.redirect('/ui/'));
    app.get('/ui/', { config: open, schema: { hide: true } }, (_request, reply) =>
      serve('index.html', reply),
    );
    app.get<{ Params: { file: string } }>(
      '/ui/:file',
      {
        config: open,
        schema: {
          hide: true,
          params: {
            type: 'object',
            required: ['file'],
            properties: { file: { type: 'string', pattern: '^[a-z][a-z0-9-]*\\.(html|js|css)$' } },
          },
        },
      },
      (request, reply) => serve(request.params.file, reply),
    );
    done();
  };
}

/**
 * The OpenAPI 3.1 document, generated from the schemas the routes are registered with (an
 * `onRoute` hook collects them), and a plain HTML page listing it: no CDN, no script.
 */
import type { FastifyInstance, RouteOptions } from 'fastify';

declare module 'fastify' {
  interface FastifySchema {
    /** OpenAPI operation summary and description. */
    summary?: string;
    description?: string;
    /** Left out of the OpenAPI document. */
    hide?: boolean;
  }
}

interface CollectedRoute {
  readonly method: string;
  readonly url: string;
  readonly access: string;
  readonly schema: Readonly<Record<string, unknown>>;
}

export interface OpenApiCollector {
  readonly routes: CollectedRoute[];
}

export function collectRoutes(app: FastifyInstance): OpenApiCollector {
  const routes: CollectedRoute[] = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method === 'HEAD' || route.schema?.hide === true) continue;
      routes.push({
        method,
        url: route.url,
        access: route.config?.access ?? 'closed',
        schema: (route.schema ?? {}) as Readonly<Record<string, unknown>>,
      });
    }
  });
  return { routes };
}

type Json = Record<string, unknown>;

/** `$ref: 'Error#'` (fastify's shared schema id) becomes an OpenAPI component reference. */
function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (typeof value !== 'object' || value === null) return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === '$ref' && typeof v === 'string') out[k] = `#/components/schemas/${v.replace(/#$/, '')}`;
    else if (k === '$id') continue;
    else out[k] = rewriteRefs(v);
  }
  return out;
}

function parameters(schema: unknown, where: 'path' | 'query'): Json[] {
  if (typeof schema !== 'object' || schema === null) return [];
  const s = schema as { properties?: Json; required?: string[] };
  return Object.entries(s.properties ?? {}).map(([name, sub]) => ({
    name,
    in: where,
    required: where === 'path' || (s.required ?? []).includes(name),
    schema: rewriteRefs(sub),
  }));
}

function statusKey(code: string): string {
  return /^[1-5]xx$/.test(code) ? code.toUpperCase() : code;
}

export function openApiDocument(
  collector: OpenApiCollector,
  info: { version: string; components: Readonly<Record<string, unknown>> },
): Json {
  const paths: Record<string, Json> = {};
  for (const r of collector.routes) {
    const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const s = r.schema;
    const responses: Json = {};
    for (const [code, schema] of Object.entries((s['response'] ?? {}) as Json)) {
      const contentType =
        typeof schema === 'object' && schema !== null && (schema as Json)['type'] === 'string'
          ? 'text/plain'
          : 'application/json';
      responses[statusKey(code)] = {
        description: code,
        content: { [contentType]: { schema: rewriteRefs(schema) } },
      };
    }
    const op: Json = {
      operationId: `${r.method.toLowerCase()}${path.replace(/[^A-Za-z0-9]+/g, '_')}`,
      summary: s['summary'] ?? `${r.method} ${path}`,
      ...(s['description'] === undefined ? {} : { description: s['description'] }),
      'x-access': r.access,
      parameters: [...parameters(s['params'], 'path'), ...parameters(s['querystring'], 'query')],
      responses,
      security: r.access === 'open' ? [] : [{ bearer: [] }],
    };
    if (s['body'] !== undefined) {
      op['requestBody'] = {
        required: true,
        content: { 'application/json': { schema: rewriteRefs(s['body']) } },
      };
    }
    paths[path] = { ...(paths[path] ?? {}), [r.method.toLowerCase()]: op };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'countersign appliance API',
      version: info.version,
      description:
        'Verification decisions for signed container images, with a tamper-evident audit trail. ' +
        'Roles: verifier (POST /v1/verify), auditor (reads), admin (configuration changes and reads).',
    },
    paths,
    components: {
      schemas: rewriteRefs(info.components),
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'cs_<id>_<secret>' } },
    },
  };
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A readable page of the document: one table row per operation. */
export function docsPage(doc: Json): string {
  const rows: string[] = [];
  const paths = (doc['paths'] ?? {}) as Record<string, Record<string, Json>>;
  for (const path of Object.keys(paths).sort()) {
    for (const [method, op] of Object.entries(paths[path] ?? {})) {
      rows.push(
        `<tr><td><code>${escapeHtml(method.toUpperCase())}</code></td><td><code>${escapeHtml(path)}</code></td>` +
          `<td>${escapeHtml(String(op['x-access']))}</td><td>${escapeHtml(String(op['summary']))}</td></tr>`,
      );
    }
  }
  const info = (doc['info'] ?? {}) as Json;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>countersign API</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style>
</head><body>
<h1>countersign appliance API ${escapeHtml(String(info['version']))}</h1>
<p>${escapeHtml(String(info['description']))}</p>
<p>Send <code>Authorization: Bearer &lt;token&gt;</code>; create tokens with <code>countersign token create</code>.
The full machine-readable document is at <a href="/openapi.json">/openapi.json</a>.</p>
<table><thead><tr><th>method</th><th>path</th><th>access</th><th>summary</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table>
</body></html>
`;
}

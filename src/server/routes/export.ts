/**
 * Signed audit exports over HTTP (auditor, admin; Part 11 §11.10(b), (e)).
 *
 * `GET /v1/audit/export?format=csv|jsonl|pdf[&from&to&policy&image]` runs src/audit/export into a
 * file under `<dataDir>/exports/` (constant memory: rows are read in pages and written as they
 * come), records the export as an audit entry, then streams the file. The detached signature
 * (base64 DER ECDSA P-256 over the file, as `cosign sign-blob` writes it) travels in the
 * `X-Countersign-Signature` header, so one request gives both. The file and its signature stay
 * retrievable for a day as `GET /v1/audit/exports/<id>` and `GET /v1/audit/exports/<id>.sig`:
 * a browser download keeps the body but not the headers. Why a file and not a direct stream: the
 * signature covers every byte and is known only at the end, and an export that fails half-way
 * must not reach the caller as if it were whole.
 *
 * No export without a record: if the `export` entry cannot be appended the file is removed and
 * the answer is 503. The entry names the actor, the filter, the checkpoint the export covers and
 * the signature, so an inspector can tie a file handed over to the trail.
 */
import { createReadStream, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import type { FastifyPluginCallback, FastifyReply } from 'fastify';
import { EXPORT_FORMATS, exportAudit, loadOrCreateExportSigningKey } from '../../audit/export/index.ts';
import type { ExportFilter, ExportFormat, ExportResult } from '../../audit/export/index.ts';
import type { JsonObject } from '../../audit/index.ts';
import { CountersignError } from '../../errors.ts';
import type { Appliance } from '../appliance.ts';
import { errorResponses } from '../errors.ts';

/** Subdirectory of the data directory that holds finished exports. */
export const EXPORTS_DIR = 'exports';
/** How long a finished export stays retrievable by id; older ones are removed on the next export. */
export const EXPORT_RETENTION_MS = 24 * 60 * 60 * 1000;

export const SIGNATURE_HEADER = 'x-countersign-signature';
export const EXPORT_ID_HEADER = 'x-countersign-export-id';
export const AUDIT_INDEX_HEADER = 'x-countersign-audit-index';

export const CONTENT_TYPES: Readonly<Record<ExportFormat, string>> = {
  csv: 'text/csv; charset=utf-8; header=present',
  // JSON Lines has no registered media type; ndjson is the one clients recognise.
  jsonl: 'application/x-ndjson; charset=utf-8',
  pdf: 'application/pdf',
};

/** `20250102T030405Z-0123456789ab`: sortable by time, unguessable by the random tail. */
const EXPORT_ID = /^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}$/;
const EXPORT_FILE_PARAM = '^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}(\\.sig)?$';

function newExportId(now: Date): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(6).toString('hex')}`;
}

/** The name a download is saved under. */
export function exportFileName(id: string, format: ExportFormat): string {
  return `countersign-audit-${id}.${format}`;
}

interface ExportQs {
  readonly format: ExportFormat;
  readonly from?: string;
  readonly to?: string;
  readonly policy?: string;
  readonly image?: string;
}

const filterString = { type: 'string', minLength: 1, maxLength: 2048 } as const;

/** Removes exports past their retention; a file being written is `.partial` and younger anyway. */
function pruneExports(dir: string, now: number): void {
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    try {
      if (now - statSync(file).mtimeMs > EXPORT_RETENTION_MS) rmSync(file, { force: true });
    } catch {
      // Gone already, or unreadable: the next export tries again.
    }
  }
}

function findExport(dir: string, id: string): { file: string; format: ExportFormat } | undefined {
  for (const format of EXPORT_FORMATS) {
    const file = path.join(dir, `${id}.${format}`);
    if (existsSync(file) && existsSync(`${file}.sig`)) return { file, format };
  }
  return undefined;
}

function sendExport(
  reply: FastifyReply,
  file: string,
  format: ExportFormat,
  id: string,
  signature: string,
): FastifyReply {
  return reply
    .type(CONTENT_TYPES[format])
    .header('content-disposition', `attachment; filename="${exportFileName(id, format)}"`)
    .header('content-length', statSync(file).size)
    .header('cache-control', 'no-store')
    .header(SIGNATURE_HEADER, signature)
    .header(EXPORT_ID_HEADER, id)
    .send(createReadStream(file));
}

export function exportRoutes(appliance: Appliance): FastifyPluginCallback {
  const dataDir = path.dirname(appliance.audit.path);
  const exportsDir = path.join(dataDir, EXPORTS_DIR);
  // One export at a time: each reads the whole log, and decisions must stay quick meanwhile.
  let queue: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => undefined);
    return next;
  };

  return (app, _options, done) => {
    const read = { access: 'read' } as const;

    app.get<{ Querystring: ExportQs }>(
      '/v1/audit/export',
      {
        config: read,
        schema: {
          summary: 'A signed export of the audit trail (CSV, JSON Lines or PDF), recorded as an entry',
          description:
            'The body is the file; X-Countersign-Signature holds its detached signature (base64 DER ' +
            'ECDSA P-256 over SHA-256, verify with GET /v1/audit/export-key or cosign verify-blob). ' +
            'X-Countersign-Export-Id names it for GET /v1/audit/exports/{id} and {id}.sig.',
          querystring: {
            type: 'object',
            required: ['format'],
            additionalProperties: false,
            properties: {
              format: { type: 'string', enum: [...EXPORT_FORMATS] },
              from: { type: 'string', format: 'date-time', description: 'Inclusive, ISO 8601' },
              to: { type: 'string', format: 'date-time', description: 'Exclusive, ISO 8601' },
              policy: { ...filterString, description: 'Policy name' },
              image: { ...filterString, description: 'Image reference or digest, exact' },
            },
          },
          response: errorResponses,
        },
      },
      async (request, reply) => {
        const { format, ...rest } = request.query;
        const filter: ExportFilter = {
          ...(rest.from === undefined ? {} : { from: rest.from }),
          ...(rest.to === undefined ? {} : { to: rest.to }),
          ...(rest.policy === undefined ? {} : { policy: rest.policy }),
          ...(rest.image === undefined ? {} : { image: rest.image }),
        };
        const actor = request.principal?.name ?? 'anonymous';
        const now = new Date();
        const id = newExportId(now);
        const file = path.join(exportsDir, `${id}.${format}`);
        const result: ExportResult = await oneAtATime(async () => {
          mkdirSync(exportsDir, { recursive: true, mode: 0o700 });
          pruneExports(exportsDir, now.getTime());
          return exportAudit({
            dbPath: appliance.audit.path,
            dataDir,
            configDir: appliance.configDir,
            format,
            out: file,
            filter,
            site: appliance.current().config.settings.site,
            appliance: hostname(),
            softwareVersion: appliance.softwareVersion,
            generatedBy: actor,
          });
        });
        const signature = await readSignature(result.signatureFile);
        const payload: JsonObject = {
          exportId: id,
          format,
          filter: { ...filter },
          entries: result.entries,
          bytes: result.bytes,
          ...(result.pages === undefined ? {} : { pages: result.pages }),
          checkpoint: {
            origin: result.checkpoint.origin,
            size: result.checkpoint.size,
            root: Buffer.from(result.checkpoint.root).toString('base64'),
          },
          signature,
          via: 'http',
        };
        let index: number;
        try {
          index = appliance.record({ kind: 'export', actor, payload }).index;
        } catch (e: unknown) {
          rmSync(file, { force: true });
          rmSync(result.signatureFile, { force: true });
          request.log.error({ err: e }, 'export could not be recorded: not handed out');
          throw new CountersignError(
            'AUDIT_UNAVAILABLE',
            'the export could not be recorded; nothing is handed out',
          );
        }
        reply.header(AUDIT_INDEX_HEADER, index);
        return sendExport(reply, file, format, id, signature);
      },
    );

    app.get<{ Params: { file: string } }>(
      '/v1/audit/exports/:file',
      {
        config: read,
        schema: {
          summary: 'A finished export by id, or its detached signature as {id}.sig',
          params: {
            type: 'object',
            required: ['file'],
            properties: { file: { type: 'string', pattern: EXPORT_FILE_PARAM } },
          },
          response: errorResponses,
        },
      },
      async (request, reply) => {
        const wantSignature = request.params.file.endsWith('.sig');
        const id = wantSignature ? request.params.file.slice(0, -'.sig'.length) : request.params.file;
        const found = EXPORT_ID.test(id) ? findExport(exportsDir, id) : undefined;
        if (found === undefined) throw new CountersignError('NOT_FOUND', `no export ${id} (kept for a day)`);
        const signature = await readSignature(`${found.file}.sig`);
        if (wantSignature) {
          return reply
            .type('text/plain; charset=us-ascii')
            .header('content-disposition', `attachment; filename="${exportFileName(id, found.format)}.sig"`)
            .header('cache-control', 'no-store')
            .send(signature);
        }
        return sendExport(reply, found.file, found.format, id, signature);
      },
    );

    app.get(
      '/v1/audit/export-key',
      {
        config: read,
        schema: {
          summary: 'The export signing public key (SPKI PEM) that export signatures verify with',
          response: errorResponses,
        },
      },
      (_request, reply) =>
        reply
          .type('application/x-pem-file')
          .header('content-disposition', 'attachment; filename="export-signing.pub"')
          .send(loadOrCreateExportSigningKey(dataDir).publicKeyPem),
    );
    done();
  };
}

async function readSignature(file: string): Promise<string> {
  return (await readFile(file, 'utf8')).trim();
}

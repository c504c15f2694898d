/**
 * Signed audit exports (Part 11 §11.10(b)): one composition function that reads a snapshot of the
 * audit database, writes CSV, JSON Lines or PDF, and signs every byte written with the export key.
 * The file is written to `<out>.partial` and renamed only once complete, so a half-written export
 * never sits under the final name; the signature goes to `<out>.sig`.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { once } from 'node:events';
import { setImmediate } from 'node:timers/promises';
import { createWriteStream, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { WriteStream } from 'node:fs';
import path from 'node:path';
import { CountersignError, isCountersignError } from '../../errors.ts';
import { APPLIANCE_PUBLIC_KEY_FILE, parseAppliancePublicKey } from '../appliance-key.ts';
import { ed25519VerifierKeyString, openCheckpoint, rawEd25519PublicKey } from '../checkpoint.ts';
import type { Checkpoint } from '../checkpoint.ts';
import { verifyConsistency } from '../merkle.ts';
import { csvHeader, csvRow } from './csv.ts';
import { readInventory } from './inventory.ts';
import { checkpointLine, consistencyLine, entryLine, footerLine, headerLine, keysLine } from './jsonl.ts';
import type { ExportFilter, ExportHeader } from './jsonl.ts';
import { DEFAULT_REPORT_LIMITS, ReportCollector, renderReport } from './pdf.ts';
import type { ReportLimits } from './pdf.ts';
import { exportSigner, loadOrCreateExportSigningKey } from './signing-key.ts';
import type { StreamSigner } from './signing-key.ts';
import { openExportSource } from './source.ts';

export const EXPORT_FORMATS = ['csv', 'jsonl', 'pdf'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export function isExportFormat(v: string): v is ExportFormat {
  return (EXPORT_FORMATS as readonly string[]).includes(v);
}

export interface ExportOptions {
  /** `<dataDir>/audit.db`. */
  readonly dbPath: string;
  /** Holds appliance.pub and the export signing key (created there on first use). */
  readonly dataDir: string;
  /** The configuration directory, for the report's key inventory. */
  readonly configDir?: string;
  readonly format: ExportFormat;
  readonly out: string;
  readonly filter: ExportFilter;
  readonly site: string;
  readonly appliance: string;
  readonly softwareVersion: string;
  /** The printed name of whoever asked for the export (21 CFR 11.50). */
  readonly generatedBy: string;
  readonly clock?: () => Date;
  /** A signed checkpoint from an earlier export: the export proves the log extends it. */
  readonly previousCheckpoint?: string;
  readonly reportLimits?: ReportLimits;
  /** Called after each page of rows with the index scanned up to and the log size. */
  readonly onProgress?: (scanned: number, total: number) => void;
  /** Leaves per chunk of the proof tree (tests use small ones). */
  readonly chunkSize?: number;
}

export interface ExportResult {
  readonly file: string;
  readonly signatureFile: string;
  readonly format: ExportFormat;
  readonly entries: number;
  readonly checkpoint: Checkpoint;
  readonly bytes: number;
  /** PDF only. */
  readonly pages?: number;
  readonly consistencyFrom?: number;
}

const FLUSH_BYTES = 1 << 16;

/** Buffers, signs and writes; waits for the disk when the stream asks it to. */
class SignedSink {
  bytes = 0;
  private readonly stream: WriteStream;
  private readonly signer: StreamSigner;
  private pending: string[] = [];
  private pendingLength = 0;

  constructor(file: string, signer: StreamSigner) {
    this.stream = createWriteStream(file, { mode: 0o644 });
    this.signer = signer;
  }

  async text(s: string): Promise<void> {
    this.pending.push(s);
    this.pendingLength += s.length;
    if (this.pendingLength >= FLUSH_BYTES) await this.flush();
  }

  async bytesChunk(chunk: Uint8Array): Promise<void> {
    await this.flush();
    await this.write(chunk);
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const buf = Buffer.from(this.pending.join(''), 'utf8');
    this.pending = [];
    this.pendingLength = 0;
    await this.write(buf);
  }

  private async write(chunk: Uint8Array): Promise<void> {
    this.signer.update(chunk);
    this.bytes += chunk.length;
    if (!this.stream.write(chunk)) await once(this.stream, 'drain');
  }

  /** Flushes and closes the file; returns the base64 signature over everything written. */
  async close(): Promise<string> {
    await this.flush();
    this.stream.end();
    await once(this.stream, 'finish');
    return this.signer.finish();
  }

  /** Stops writing and waits until the file is closed, so that it can be removed. */
  async abort(): Promise<void> {
    if (this.stream.closed) return;
    const closed = once(this.stream, 'close');
    this.stream.destroy();
    await closed.catch(() => undefined);
  }
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e: unknown) {
    throw new CountersignError('CONFIG_INVALID', `cannot read ${what} ${file}`, { cause: e });
  }
}

function spkiFingerprint(pem: string): string {
  return createHash('sha256')
    .update(createPublicKey(pem).export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

/**
 * Gives the event loop a turn every `every` entries: in the appliance, an export of a million
 * entries runs beside live verifications, which must not wait for it. (The export reads one
 * snapshot in its own read transaction, so appends meanwhile do not change what it writes.)
 */
function breathingSpace(every: number): () => Promise<void> {
  let count = 0;
  return async () => {
    if (++count % every === 0) await setImmediate();
  };
}

/** Writes a signed export; see the module comment. */
export async function exportAudit(options: ExportOptions): Promise<ExportResult> {
  const clock = options.clock ?? (() => new Date());
  const appliancePem = readText(
    path.join(options.dataDir, APPLIANCE_PUBLIC_KEY_FILE),
    'appliance public key',
  );
  const applianceKey = parseAppliancePublicKey(appliancePem);
  const signingKey = loadOrCreateExportSigningKey(options.dataDir);
  const source = openExportSource(options.dbPath, options.chunkSize);
  const partial = `${options.out}.partial`;
  let sink: SignedSink | undefined;
  try {
    let checkpoint: Checkpoint;
    try {
      checkpoint = openCheckpoint(source.checkpoint.note, applianceKey);
    } catch (e: unknown) {
      const why = isCountersignError(e) ? e.message : String(e);
      throw new CountersignError(
        'AUDIT_UNAVAILABLE',
        `the latest checkpoint does not verify with ${APPLIANCE_PUBLIC_KEY_FILE}: ${why}: run \`countersign audit verify\``,
        { cause: e },
      );
    }
    if (checkpoint.size !== source.checkpoint.size) {
      throw new CountersignError('AUDIT_UNAVAILABLE', 'the checkpoint row disagrees with its note');
    }
    const consistency =
      options.previousCheckpoint === undefined
        ? undefined
        : proveConsistency(
            options.previousCheckpoint,
            applianceKey,
            checkpoint,
            source.tree.consistencyProof.bind(source.tree),
          );

    const header: ExportHeader = {
      origin: checkpoint.origin,
      site: options.site,
      appliance: options.appliance,
      softwareVersion: options.softwareVersion,
      generatedAt: clock().toISOString(),
      generatedBy: options.generatedBy,
      filter: options.filter,
    };
    const progress = (scanned: number): void => options.onProgress?.(scanned, checkpoint.size);
    sink = new SignedSink(partial, exportSigner(signingKey.privateKey));
    let entries = 0;
    let pages: number | undefined;
    const breather = breathingSpace(256);

    switch (options.format) {
      case 'csv':
        await sink.text(csvHeader());
        for (const entry of source.entries(options.filter, progress)) {
          entries++;
          await sink.text(csvRow(entry));
          await breather();
        }
        break;
      case 'jsonl':
        await sink.text(headerLine(header));
        await sink.text(checkpointLine(checkpoint, source.checkpoint.note));
        await sink.text(keysLine(checkpoint.origin, appliancePem, signingKey.publicKeyPem));
        if (consistency !== undefined) {
          await sink.text(
            consistencyLine(consistency.note, consistency.size, checkpoint.size, consistency.proof),
          );
        }
        for (const entry of source.entries(options.filter, progress)) {
          entries++;
          await sink.text(entryLine(entry, checkpoint.size, source.tree.inclusionProof(entry.index)));
          await breather();
        }
        await sink.text(footerLine(entries));
        break;
      case 'pdf': {
        const collector = new ReportCollector(options.reportLimits ?? DEFAULT_REPORT_LIMITS);
        for (const entry of source.entries(options.filter, progress)) {
          collector.add(entry);
          await breather();
        }
        entries = collector.total;
        const report = renderReport({
          header,
          collected: collector,
          checkpoint: source.checkpoint,
          applianceVerifierKey: ed25519VerifierKeyString(
            checkpoint.origin,
            rawEd25519PublicKey(applianceKey),
          ),
          exportKeyFingerprint: spkiFingerprint(signingKey.publicKeyPem),
          inventory: options.configDir === undefined ? [] : readInventory(options.configDir),
          ...(consistency === undefined ? {} : { consistencyFrom: consistency.size }),
          fileName: path.basename(options.out),
        });
        for await (const chunk of report.doc) await sink.bytesChunk(chunk as Uint8Array);
        pages = report.pages();
        break;
      }
    }
    const signature = await sink.close();
    renameSync(partial, options.out);
    const signatureFile = `${options.out}.sig`;
    writeFileSync(signatureFile, signature, { mode: 0o644 });
    return {
      file: options.out,
      signatureFile,
      format: options.format,
      entries,
      checkpoint,
      bytes: sink.bytes,
      ...(pages === undefined ? {} : { pages }),
      ...(consistency === undefined ? {} : { consistencyFrom: consistency.size }),
    };
  } catch (e: unknown) {
    await sink?.abort();
    rmSync(partial, { force: true });
    throw e;
  } finally {
    source.close();
  }
}

function proveConsistency(
  note: string,
  key: ReturnType<typeof parseAppliancePublicKey>,
  current: Checkpoint,
  prove: (from: number) => Uint8Array[],
): { note: string; size: number; proof: Uint8Array[] } {
  let previous: Checkpoint;
  try {
    previous = openCheckpoint(note, key, { origin: current.origin });
  } catch (e: unknown) {
    const why = isCountersignError(e) ? e.message : String(e);
    throw new CountersignError('SIGNATURE_INVALID', `the previous checkpoint does not verify: ${why}`, {
      cause: e,
    });
  }
  if (previous.size > current.size) {
    throw new CountersignError(
      'AUDIT_UNAVAILABLE',
      `the previous checkpoint signs ${previous.size} entries, the log holds ${current.size}: its tail is missing`,
    );
  }
  const proof = prove(previous.size);
  if (!verifyConsistency(previous.size, current.size, proof, previous.root, current.root)) {
    throw new CountersignError(
      'AUDIT_UNAVAILABLE',
      `the audit log does not extend the previous checkpoint of size ${previous.size}: it was rewritten`,
    );
  }
  return { note, size: previous.size, proof };
}

/**
 * Offline check of an export (edge: reads the file as a stream). Every format: the detached
 * signature over every byte, with the export key the inspector holds. JSON Lines also: the
 * checkpoint signature, every entry hash and inclusion proof, the consistency proof, and the
 * footer count (see jsonl.ts). Reports problems with codes; never throws for a bad export.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Checkpoint } from '../checkpoint.ts';
import { csvHeader } from './csv.ts';
import { JsonlExportChecker } from './jsonl.ts';
import type { ExportHeader, ExportProblem } from './jsonl.ts';
import { decodeSignatureFile, parseExportPublicKey, verifyFileSignature } from './signing-key.ts';

export type DetectedFormat = 'csv' | 'jsonl' | 'pdf' | 'unknown';

export interface VerifyExportOptions {
  /** The `.sig` file's text. */
  readonly signature: string;
  /** The export signing public key (SPKI PEM), from a source the inspector trusts. */
  readonly publicKeyPem: string;
  /** JSONL: pin the appliance checkpoint key instead of the embedded one. */
  readonly appliancePublicKeyPem?: string;
  /** JSONL: a checkpoint the inspector kept; the export must prove it extends it. */
  readonly previousCheckpoint?: string;
}

export interface ExportVerification {
  readonly ok: boolean;
  readonly format: DetectedFormat;
  readonly signatureValid: boolean;
  readonly problems: readonly ExportProblem[];
  readonly problemsTruncated: boolean;
  /** JSONL: entries read; CSV: data rows. */
  readonly entries?: number;
  readonly header?: ExportHeader;
  readonly checkpoint?: Checkpoint;
  readonly consistencyFrom?: number;
}

async function head(file: string, n: number): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

async function tail(file: string, n: number): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const start = Math.max(0, size - n);
    const buf = Buffer.alloc(size - start);
    await fh.read(buf, 0, buf.length, start);
    return buf;
  } finally {
    await fh.close();
  }
}

export function detectFormat(first: Uint8Array): DetectedFormat {
  const text = Buffer.from(first).toString('utf8');
  if (text.startsWith('%PDF-')) return 'pdf';
  if (text.startsWith('\uFEFFindex,')) return 'csv';
  if (text.startsWith('{"type":"header"')) return 'jsonl';
  return 'unknown';
}

function lines(file: string): AsyncIterable<string> {
  return createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
}

/** Counts RFC 4180 records: line ends outside quoted fields (quoted fields may hold line breaks). */
async function countCsvRecords(file: string): Promise<number> {
  let records = 0;
  let quoted = false;
  for await (const chunk of createReadStream(file)) {
    for (const byte of chunk as Buffer) {
      if (byte === 0x22) quoted = !quoted;
      else if (byte === 0x0a && !quoted) records++;
    }
  }
  return records;
}

export async function verifyExport(file: string, options: VerifyExportOptions): Promise<ExportVerification> {
  const key = parseExportPublicKey(options.publicKeyPem);
  const problems: ExportProblem[] = [];
  const signature = decodeSignatureFile(options.signature);
  const signatureValid = signature !== undefined && (await verifyFileSignature(file, signature, key));
  if (!signatureValid) {
    problems.push({
      code: 'SIGNATURE_INVALID',
      message:
        signature === undefined
          ? 'the signature file is not base64'
          : 'the signature does not verify with the export key: the file was changed or signed by another key',
    });
  }
  const format = detectFormat(await head(file, 64));
  const base = { format, signatureValid };
  switch (format) {
    case 'unknown':
      problems.push({ code: 'FORMAT_INVALID', message: 'not a countersign CSV, JSON Lines or PDF export' });
      return { ...base, ok: false, problems, problemsTruncated: false };
    case 'pdf': {
      const end = (await tail(file, 1024)).toString('latin1').trimEnd();
      if (!end.endsWith('%%EOF'))
        problems.push({ code: 'FORMAT_INVALID', message: 'the PDF has no end-of-file marker: cut' });
      return { ...base, ok: problems.length === 0, problems, problemsTruncated: false };
    }
    case 'csv': {
      const expected = Buffer.from(csvHeader(), 'utf8');
      if (!(await head(file, expected.length)).equals(expected)) {
        problems.push({
          code: 'FORMAT_INVALID',
          line: 1,
          message: 'the header row is not the documented one',
        });
      }
      const rows = (await countCsvRecords(file)) - 1;
      return {
        ...base,
        ok: problems.length === 0,
        problems,
        problemsTruncated: false,
        entries: Math.max(rows, 0),
      };
    }
    case 'jsonl': {
      const checker = new JsonlExportChecker({
        ...(options.appliancePublicKeyPem === undefined
          ? {}
          : { appliancePublicKeyPem: options.appliancePublicKeyPem }),
        ...(options.previousCheckpoint === undefined
          ? {}
          : { previousCheckpoint: options.previousCheckpoint }),
      });
      for await (const line of lines(file)) checker.line(line);
      const summary = checker.finish();
      problems.push(...checker.problems);
      return {
        ...base,
        ok: problems.length === 0,
        problems,
        problemsTruncated: checker.problemsTruncated,
        entries: summary.entries,
        ...(summary.header === undefined ? {} : { header: summary.header }),
        ...(summary.checkpoint === undefined ? {} : { checkpoint: summary.checkpoint }),
        ...(summary.consistencyFrom === undefined ? {} : { consistencyFrom: summary.consistencyFrom }),
      };
    }
  }
}

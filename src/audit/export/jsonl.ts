/**
 * JSON Lines export (pure): the line format and its line-by-line checker. Lines, in this order:
 *
 *   {"type":"header", "format":"countersign-audit-export", "formatVersion":1, origin, site, appliance,
 *    softwareVersion, generatedAt, generatedBy, filter}
 *   {"type":"checkpoint", origin, size, root, note}             the signed C2SP checkpoint
 *   {"type":"keys", appliance:{pem, verifierKey}, exportSigning:{pem}}
 *   {"type":"consistency", previousCheckpoint, fromSize, toSize, proof}   only with a previous one
 *   {"type":"entry", index, ts, kind, actor, payload, softwareVersion, clockSteppedBack, prevTs,
 *    entryHash, inclusionProof:{leafIndex, treeSize, hashes}}  one per exported entry
 *   {"type":"footer", entries}
 *
 * Hashes are standard base64, as in the checkpoint. `payload` is the stored canonical JSON text, so
 * the leaf hash can be recomputed byte for byte: SHA-256(0x00 || canonicalJson({actor,
 * clockSteppedBack: 0|1, idx, kind, payload, prevTs, softwareVersion, ts, v: 1})) (entry.ts).
 * The checkpoint comes before the entries so a checker verifies each proof as it reads, in constant
 * memory.
 */
import type { KeyObject } from 'node:crypto';
import { isCountersignError } from '../../errors.ts';
import { parseAppliancePublicKey } from '../appliance-key.ts';
import { ed25519VerifierKeyString, openCheckpoint, rawEd25519PublicKey } from '../checkpoint.ts';
import type { Checkpoint } from '../checkpoint.ts';
import { computeEntryHash, isAuditKind } from '../entry.ts';
import type { AuditEntry } from '../entry.ts';
import { equalHashes, verifyConsistency, verifyInclusion } from '../merkle.ts';

export const EXPORT_FORMAT = 'countersign-audit-export';
export const EXPORT_FORMAT_VERSION = 1;

export interface ExportFilter {
  readonly from?: string;
  readonly to?: string;
  readonly policy?: string;
  readonly image?: string;
}

export interface ExportHeader {
  readonly origin: string;
  readonly site: string;
  readonly appliance: string;
  readonly softwareVersion: string;
  readonly generatedAt: string;
  readonly generatedBy: string;
  readonly filter: ExportFilter;
}

const b64 = (h: Uint8Array): string => Buffer.from(h).toString('base64');

function jsonLine(value: object): string {
  return `${JSON.stringify(value)}\n`;
}

export function headerLine(h: ExportHeader): string {
  return jsonLine({ type: 'header', format: EXPORT_FORMAT, formatVersion: EXPORT_FORMAT_VERSION, ...h });
}

export function checkpointLine(checkpoint: Checkpoint, note: string): string {
  return jsonLine({
    type: 'checkpoint',
    origin: checkpoint.origin,
    size: checkpoint.size,
    root: b64(checkpoint.root),
    note,
  });
}

export function keysLine(origin: string, appliancePem: string, exportSigningPem: string): string {
  const raw = rawEd25519PublicKey(parseAppliancePublicKey(appliancePem));
  return jsonLine({
    type: 'keys',
    appliance: { pem: appliancePem, verifierKey: ed25519VerifierKeyString(origin, raw) },
    exportSigning: { pem: exportSigningPem },
  });
}

export function consistencyLine(
  previousNote: string,
  fromSize: number,
  toSize: number,
  proof: readonly Uint8Array[],
): string {
  return jsonLine({
    type: 'consistency',
    previousCheckpoint: previousNote,
    fromSize,
    toSize,
    proof: proof.map(b64),
  });
}

export function entryLine(entry: AuditEntry, treeSize: number, proof: readonly Uint8Array[]): string {
  return jsonLine({
    type: 'entry',
    index: entry.index,
    ts: entry.ts,
    kind: entry.kind,
    actor: entry.actor,
    payload: entry.payloadText,
    softwareVersion: entry.softwareVersion,
    clockSteppedBack: entry.clockSteppedBack,
    prevTs: entry.prevTs,
    entryHash: b64(entry.entryHash),
    inclusionProof: { leafIndex: entry.index, treeSize, hashes: proof.map(b64) },
  });
}

export function footerLine(entries: number): string {
  return jsonLine({ type: 'footer', entries });
}

export type ExportProblemCode =
  /** The detached signature does not verify with the given key. */
  | 'SIGNATURE_INVALID'
  /** A line is not what the format says at that place. */
  | 'FORMAT_INVALID'
  /** The embedded checkpoint does not verify with the appliance key. */
  | 'CHECKPOINT_SIGNATURE_INVALID'
  /** The embedded appliance key is malformed, inconsistent, or not the one the checker pinned. */
  | 'KEY_MISMATCH'
  /** An entry's fields do not hash to its entry hash: an edited entry. */
  | 'ENTRY_HASH_MISMATCH'
  /** An entry's inclusion proof does not lead to the checkpoint's root. */
  | 'INCLUSION_PROOF_INVALID'
  /** Entries out of order, repeated, or beyond the checkpoint. */
  | 'ENTRY_ORDER_INVALID'
  /** The previous checkpoint does not verify or the consistency proof fails. */
  | 'CONSISTENCY_PROOF_INVALID'
  /** The checker's own previous checkpoint is not the one in the export. */
  | 'PREVIOUS_CHECKPOINT_MISMATCH'
  /** The footer is missing or counts a different number of entries: lines removed or added. */
  | 'COUNT_MISMATCH';

export interface ExportProblem {
  readonly code: ExportProblemCode;
  /** 1-based line number in the file, when one can be named. */
  readonly line?: number;
  readonly message: string;
}

export interface JsonlCheckOptions {
  /** Pin the appliance (checkpoint) key instead of taking the one the export embeds. */
  readonly appliancePublicKeyPem?: string;
  /** A checkpoint the checker kept from an earlier export: the export must prove it extends it. */
  readonly previousCheckpoint?: string;
}

export interface JsonlSummary {
  readonly header?: ExportHeader;
  readonly checkpoint?: Checkpoint;
  readonly entries: number;
  readonly consistencyFrom?: number;
}

type Json = Record<string, unknown>;

const MAX_PROBLEMS = 1000;

function decodeB64(v: unknown): Uint8Array | undefined {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) return undefined;
  return new Uint8Array(Buffer.from(v, 'base64'));
}

function decodeHashes(v: unknown): Uint8Array[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: Uint8Array[] = [];
  for (const h of v) {
    const bytes = decodeB64(h);
    if (bytes?.length !== 32) return undefined;
    out.push(bytes);
  }
  return out;
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function why(e: unknown): string {
  return isCountersignError(e) ? `${e.message} [${e.code}]` : e instanceof Error ? e.message : String(e);
}

type Stage = 'header' | 'checkpoint' | 'keys' | 'body' | 'done';

/** Checks a JSONL export line by line; memory stays constant whatever the number of entries. */
export class JsonlExportChecker {
  readonly problems: ExportProblem[] = [];
  problemsTruncated = false;
  private readonly options: JsonlCheckOptions;
  private stage: Stage = 'header';
  private lineNo = 0;
  private header: ExportHeader | undefined;
  private checkpointNote: string | undefined;
  private checkpoint: Checkpoint | undefined;
  private applianceKey: KeyObject | undefined;
  private lastIndex = -1;
  private entries = 0;
  private consistencyFrom: number | undefined;
  private footerSeen = false;

  constructor(options: JsonlCheckOptions = {}) {
    this.options = options;
  }

  private add(code: ExportProblemCode, message: string, line: number | null = this.lineNo): void {
    if (this.problems.length >= MAX_PROBLEMS) {
      this.problemsTruncated = true;
      return;
    }
    this.problems.push(line === null ? { code, message } : { code, line, message });
  }

  /** Feeds one line (without its newline). */
  line(text: string): void {
    this.lineNo++;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      this.add('FORMAT_INVALID', 'not a JSON line');
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.add('FORMAT_INVALID', 'not a JSON object');
      return;
    }
    const o = value as Json;
    const type = o['type'];
    if (this.stage === 'done') {
      this.add('FORMAT_INVALID', 'a line after the footer');
      return;
    }
    switch (type) {
      case 'header':
        this.onHeader(o);
        return;
      case 'checkpoint':
        this.onCheckpoint(o);
        return;
      case 'keys':
        this.onKeys(o);
        return;
      case 'consistency':
        this.onConsistency(o);
        return;
      case 'entry':
        this.onEntry(o);
        return;
      case 'footer':
        this.onFooter(o);
        return;
      default:
        this.add('FORMAT_INVALID', `unknown line type ${JSON.stringify(type)}`);
    }
  }

  private expect(stage: Stage, what: string): boolean {
    if (this.stage === stage) return true;
    this.add('FORMAT_INVALID', `${what} is out of place (expected the ${this.stage} line)`);
    return false;
  }

  private onHeader(o: Json): void {
    if (!this.expect('header', 'header')) return;
    this.stage = 'checkpoint';
    if (o['format'] !== EXPORT_FORMAT || o['formatVersion'] !== EXPORT_FORMAT_VERSION) {
      this.add('FORMAT_INVALID', `not a ${EXPORT_FORMAT} version ${EXPORT_FORMAT_VERSION}`);
      return;
    }
    const s = (k: string): string => (typeof o[k] === 'string' ? o[k] : '');
    const filter =
      typeof o['filter'] === 'object' && o['filter'] !== null ? (o['filter'] as ExportFilter) : {};
    this.header = {
      origin: s('origin'),
      site: s('site'),
      appliance: s('appliance'),
      softwareVersion: s('softwareVersion'),
      generatedAt: s('generatedAt'),
      generatedBy: s('generatedBy'),
      filter,
    };
  }

  private onCheckpoint(o: Json): void {
    if (!this.expect('checkpoint', 'checkpoint')) return;
    this.stage = 'keys';
    if (typeof o['note'] !== 'string') {
      this.add('FORMAT_INVALID', 'checkpoint line has no note');
      return;
    }
    // Verified once the key line has been read.
    this.checkpointNote = o['note'];
  }

  private onKeys(o: Json): void {
    if (!this.expect('keys', 'keys line')) return;
    this.stage = 'body';
    const appliance = o['appliance'] as Json | undefined;
    const pem = appliance?.['pem'];
    let key: KeyObject;
    try {
      if (typeof pem !== 'string') throw new Error('no appliance key PEM');
      key = parseAppliancePublicKey(pem);
    } catch (e: unknown) {
      this.add('KEY_MISMATCH', `embedded appliance key: ${why(e)}`);
      return;
    }
    const pinned = this.options.appliancePublicKeyPem;
    if (pinned !== undefined) {
      let pinnedKey: KeyObject;
      try {
        pinnedKey = parseAppliancePublicKey(pinned);
      } catch (e: unknown) {
        this.add('KEY_MISMATCH', `pinned appliance key: ${why(e)}`, null);
        return;
      }
      if (!equalHashes(rawEd25519PublicKey(pinnedKey), rawEd25519PublicKey(key))) {
        this.add('KEY_MISMATCH', 'the embedded appliance key is not the pinned one');
      }
      key = pinnedKey;
    }
    this.applianceKey = key;
    if (this.checkpointNote === undefined) return;
    try {
      this.checkpoint = openCheckpoint(
        this.checkpointNote,
        key,
        this.header?.origin ? { origin: this.header.origin } : {},
      );
    } catch (e: unknown) {
      this.add('CHECKPOINT_SIGNATURE_INVALID', `checkpoint: ${why(e)}`, 2);
      return;
    }
    const expected = ed25519VerifierKeyString(this.checkpoint.origin, rawEd25519PublicKey(key));
    if (appliance?.['verifierKey'] !== expected) {
      this.add('KEY_MISMATCH', 'the verifier key string does not match the appliance key');
    }
  }

  private onConsistency(o: Json): void {
    if (!this.expect('body', 'consistency line')) return;
    if (this.entries > 0 || this.consistencyFrom !== undefined) {
      this.add('FORMAT_INVALID', 'the consistency line must come once, before the entries');
      return;
    }
    const note = o['previousCheckpoint'];
    const proof = decodeHashes(o['proof']);
    const cp = this.checkpoint;
    if (
      typeof note !== 'string' ||
      proof === undefined ||
      cp === undefined ||
      this.applianceKey === undefined
    ) {
      this.add('CONSISTENCY_PROOF_INVALID', 'malformed consistency line, or no verified checkpoint');
      return;
    }
    let previous: Checkpoint;
    try {
      previous = openCheckpoint(note, this.applianceKey, { origin: cp.origin });
    } catch (e: unknown) {
      this.add('CONSISTENCY_PROOF_INVALID', `previous checkpoint: ${why(e)}`);
      return;
    }
    this.consistencyFrom = previous.size;
    if (
      o['fromSize'] !== previous.size ||
      o['toSize'] !== cp.size ||
      !verifyConsistency(previous.size, cp.size, proof, previous.root, cp.root)
    ) {
      this.add('CONSISTENCY_PROOF_INVALID', `no proof that size ${cp.size} extends size ${previous.size}`);
    }
    const kept = this.options.previousCheckpoint;
    if (kept !== undefined && kept !== note) {
      this.add('PREVIOUS_CHECKPOINT_MISMATCH', 'the export proves consistency with another checkpoint');
    }
  }

  private onEntry(o: Json): void {
    if (!this.expect('body', 'entry')) return;
    this.entries++;
    const index = o['index'];
    const kind = o['kind'];
    const prevTs = o['prevTs'];
    const strings = ['ts', 'actor', 'payload', 'softwareVersion'].every((k) => typeof o[k] === 'string');
    const entryHash = decodeB64(o['entryHash']);
    const proof = o['inclusionProof'] as Json | undefined;
    const hashes = decodeHashes(proof?.['hashes']);
    if (
      !isInt(index) ||
      typeof kind !== 'string' ||
      !isAuditKind(kind) ||
      !strings ||
      typeof o['clockSteppedBack'] !== 'boolean' ||
      (prevTs !== null && typeof prevTs !== 'string') ||
      entryHash?.length !== 32 ||
      hashes === undefined
    ) {
      this.add('FORMAT_INVALID', 'malformed entry');
      return;
    }
    if (index <= this.lastIndex) {
      this.add('ENTRY_ORDER_INVALID', `entry ${index} after entry ${this.lastIndex}`);
    }
    this.lastIndex = Math.max(this.lastIndex, index);
    const recomputed = computeEntryHash({
      index,
      ts: o['ts'] as string,
      kind,
      actor: o['actor'] as string,
      payloadText: o['payload'] as string,
      softwareVersion: o['softwareVersion'] as string,
      clockSteppedBack: o['clockSteppedBack'],
      prevTs,
    });
    if (!equalHashes(recomputed, entryHash)) {
      this.add('ENTRY_HASH_MISMATCH', `entry ${index} does not match its hash`);
    }
    const cp = this.checkpoint;
    if (cp === undefined) return;
    if (index >= cp.size) {
      this.add('ENTRY_ORDER_INVALID', `entry ${index} is beyond the checkpoint of size ${cp.size}`);
      return;
    }
    if (
      proof?.['leafIndex'] !== index ||
      proof['treeSize'] !== cp.size ||
      !verifyInclusion(index, cp.size, recomputed, hashes, cp.root)
    ) {
      this.add(
        'INCLUSION_PROOF_INVALID',
        `entry ${index} is not proven in the checkpoint of size ${cp.size}`,
      );
    }
  }

  private onFooter(o: Json): void {
    if (!this.expect('body', 'footer')) return;
    this.stage = 'done';
    this.footerSeen = true;
    if (o['entries'] !== this.entries) {
      this.add(
        'COUNT_MISMATCH',
        `the footer counts ${String(o['entries'])} entries, the file has ${this.entries}`,
      );
    }
  }

  /** Call after the last line: reports what never came. */
  finish(): JsonlSummary {
    if (this.header === undefined && !this.problems.some((p) => p.code === 'FORMAT_INVALID')) {
      this.add('FORMAT_INVALID', 'no header line', null);
    }
    if (
      this.checkpoint === undefined &&
      !this.problems.some((p) => p.code === 'CHECKPOINT_SIGNATURE_INVALID')
    ) {
      this.add('CHECKPOINT_SIGNATURE_INVALID', 'no verified checkpoint', null);
    }
    if (!this.footerSeen) this.add('COUNT_MISMATCH', 'the footer line is missing: the file is cut', null);
    if (this.options.previousCheckpoint !== undefined && this.consistencyFrom === undefined) {
      this.add('PREVIOUS_CHECKPOINT_MISMATCH', 'the export has no consistency proof', null);
    }
    return {
      entries: this.entries,
      ...(this.header === undefined ? {} : { header: this.header }),
      ...(this.checkpoint === undefined ? {} : { checkpoint: this.checkpoint }),
      ...(this.consistencyFrom === undefined ? {} : { consistencyFrom: this.consistencyFrom }),
    };
  }
}

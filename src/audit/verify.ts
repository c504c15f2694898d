/**
 * Offline verification of an audit database (Part 11 §11.10(a)): re-reads every row through a
 * read-only connection, recomputes every entry hash and the Merkle root at every checkpoint,
 * checks every checkpoint signature and the consistency between consecutive checkpoints, and
 * names the first bad entry. It trusts nothing in the file but the public key it is given, and,
 * when the auditor kept one, a checkpoint taken earlier (`expectedCheckpoint`): only that can
 * reveal a tail cut off together with its checkpoints.
 *
 * Key rotations (key-chain.ts) are followed: from the first checkpoint covering a rotation entry,
 * which must be signed by the key in force and by the announced key, the announced key is in
 * force. The given key may be any key of the chain: a later key vouches for the earlier ones
 * through the co-signed checkpoint, whose tree holds the entry that named them.
 */
import type { KeyObject } from 'node:crypto';
import { CountersignError, isCountersignError } from '../errors.ts';
import { appliancePublicKeyFingerprint, parseAppliancePublicKey } from './appliance-key.ts';
import { openCheckpoint, parseCheckpoint, parseNote } from './checkpoint.ts';
import type { Checkpoint } from './checkpoint.ts';
import { computeEntryHash, isAuditKind } from './entry.ts';
import type { AuditKind } from './entry.ts';
import { KEY_ROTATION_TARGET, parseKeyRotation, verifierKeysMatch } from './key-chain.ts';
import type { KeyRotation } from './key-chain.ts';
import { MerkleTree, equalHashes, verifyConsistency } from './merkle.ts';
import { openSqlite, prepareCached } from './sqlite.ts';
import type { SqliteDatabase } from './sqlite.ts';
import { AUDIT_SCHEMA_VERSION } from './store.ts';

export type AuditProblemCode =
  /** Tables or schema version missing or unknown. */
  | 'SCHEMA_INVALID'
  /** An append-only trigger is gone: someone had the means to rewrite rows. */
  | 'TRIGGER_MISSING'
  /** An index is absent: a deleted row. */
  | 'ENTRY_MISSING'
  /** A row cannot be an entry (unknown kind, malformed hash). */
  | 'ENTRY_INVALID'
  /** The stored entry hash is not the hash of the row's columns: an edited row. */
  | 'ENTRY_HASH_MISMATCH'
  /** `prev_ts` or the clock flag does not follow from the previous row. */
  | 'ENTRY_CHAIN_BROKEN'
  /** Rows beyond the latest signed checkpoint: appended outside countersign. */
  | 'ENTRY_NOT_CHECKPOINTED'
  /** A checkpoint row that is malformed or disagrees with its own note. */
  | 'CHECKPOINT_INVALID'
  /** A checkpoint whose signature does not verify with the appliance key: forged or altered. */
  | 'CHECKPOINT_SIGNATURE_INVALID'
  /**
   * A key rotation entry that is not followed: malformed, handing over from a key not in force,
   * or its checkpoint not signed by both the old and the new key (a forged rotation).
   */
  | 'KEY_ROTATION_INVALID'
  /** The recomputed Merkle root differs from the signed one. */
  | 'CHECKPOINT_ROOT_MISMATCH'
  /** A signed checkpoint covers entries that are not in the table: a cut tail. */
  | 'CHECKPOINT_BEYOND_LOG'
  /** Two consecutive signed checkpoints are not consistent (RFC 9162 §2.1.4). */
  | 'CHECKPOINTS_INCONSISTENT'
  /** The auditor's own checkpoint does not verify. */
  | 'EXPECTED_CHECKPOINT_INVALID'
  /** The auditor's checkpoint is not consistent with this database: a rewritten trail. */
  | 'EXPECTED_CHECKPOINT_MISMATCH'
  /** The auditor's checkpoint covers more entries than the database holds: a cut tail. */
  | 'TAIL_MISSING';

export interface AuditProblem {
  /** The first entry index the problem concerns, when one can be named. */
  readonly index?: number;
  /** For checkpoint problems, the tree size of the checkpoint. */
  readonly checkpointSize?: number;
  readonly code: AuditProblemCode;
  readonly message: string;
}

export interface AuditVerification {
  readonly ok: boolean;
  /** Rows read from audit_entries. */
  readonly entries: number;
  /** Rows read from audit_checkpoints. */
  readonly checkpoints: number;
  /** The latest checkpoint whose signature verified, if any. */
  readonly latestCheckpoint?: Checkpoint;
  readonly firstBadIndex?: number;
  readonly problems: readonly AuditProblem[];
  /** True when more problems were found than are listed. */
  readonly problemsTruncated: boolean;
  /** The appliance keys in force, in order: the chain the checkpoint signatures were checked along. */
  readonly keys: readonly KeyInForce[];
}

/** One key of the chain `audit verify` followed. */
export interface KeyInForce {
  /** `sha256:<hex>` of the SPKI DER encoding. */
  readonly fingerprint: string;
  readonly publicKeyPem: string;
  /** The rotation entry that announced it; null for the key verification started from. */
  readonly rotationEntry: number | null;
  /** The first checkpoint it signs (co-signed with the key before it), 0 for the first key. */
  readonly fromCheckpointSize: number;
}

interface ChainKey extends KeyInForce {
  readonly key: KeyObject;
}

export interface VerifyOptions {
  /** A signed checkpoint kept outside the database (from an export or an earlier `audit checkpoint`). */
  readonly expectedCheckpoint?: string;
  /** The log origin to insist on; defaults to the origin of the first checkpoint. */
  readonly origin?: string;
}

const MAX_PROBLEMS = 1000;
/** Rows per query: statement iterators are avoided (see sqlite.ts). */
const PAGE = 5000;

const REQUIRED_TRIGGERS = [
  'audit_entries_no_update',
  'audit_entries_no_delete',
  'audit_checkpoints_no_update',
  'audit_checkpoints_no_delete',
];

interface RowEntry {
  idx: unknown;
  ts: unknown;
  kind: unknown;
  actor: unknown;
  payload: unknown;
  software_version: unknown;
  clock_stepped_back: unknown;
  prev_ts: unknown;
  entry_hash: unknown;
}

interface RowCheckpoint {
  size: unknown;
  root: unknown;
  note: unknown;
}

/** A checkpoint as verification needs it: the signed size and root, if the signature held. */
interface SignedCheckpoint {
  readonly size: number;
  readonly root: Uint8Array;
}

class Findings {
  readonly list: AuditProblem[] = [];
  truncated = false;
  first: number | undefined;

  add(problem: AuditProblem): void {
    if (problem.index !== undefined && (this.first === undefined || problem.index < this.first)) {
      this.first = problem.index;
    }
    if (this.list.length >= MAX_PROBLEMS) {
      this.truncated = true;
      return;
    }
    this.list.push(problem);
  }
}

function openReadOnly(path: string): SqliteDatabase {
  try {
    return openSqlite(path, { readonly: true, fileMustExist: true });
  } catch (e: unknown) {
    throw new CountersignError('CONFIG_INVALID', `cannot open audit database ${path}`, { cause: e });
  }
}

/** Every row of `table` in `key` order, read a page at a time. */
function* pagedRows<T extends object>(
  db: SqliteDatabase,
  table: string,
  key: string,
  columns: string,
): Generator<T> {
  let after: unknown;
  for (;;) {
    const rows = (
      after === undefined
        ? prepareCached(db, `SELECT ${columns} FROM ${table} ORDER BY ${key} LIMIT ${PAGE}`).all()
        : prepareCached(
            db,
            `SELECT ${columns} FROM ${table} WHERE ${key} > ? ORDER BY ${key} LIMIT ${PAGE}`,
          ).all(after)
    ) as (T & Record<string, unknown>)[];
    yield* rows;
    const last = rows.at(-1);
    if (rows.length < PAGE || last === undefined) return;
    after = last[key];
  }
}

function checkSchema(db: SqliteDatabase, findings: Findings): boolean {
  const tables = new Set(
    (
      prepareCached(db, "SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]
    ).map((r) => r.name),
  );
  for (const t of ['audit_schema_version', 'audit_entries', 'audit_checkpoints']) {
    if (!tables.has(t)) {
      findings.add({ code: 'SCHEMA_INVALID', message: `table ${t} is missing` });
      return false;
    }
  }
  const version = (
    prepareCached(db, 'SELECT MAX(version) AS v FROM audit_schema_version').get() as { v: unknown }
  ).v;
  if (version !== AUDIT_SCHEMA_VERSION) {
    findings.add({
      code: 'SCHEMA_INVALID',
      message: `schema version ${String(version)} is not ${AUDIT_SCHEMA_VERSION}`,
    });
    return false;
  }
  const triggers = new Set(
    (
      prepareCached(db, "SELECT name FROM sqlite_master WHERE type = 'trigger'").all() as { name: string }[]
    ).map((r) => r.name),
  );
  for (const t of REQUIRED_TRIGGERS) {
    if (!triggers.has(t))
      findings.add({ code: 'TRIGGER_MISSING', message: `append-only trigger ${t} is missing` });
  }
  return true;
}

function chainKey(key: KeyObject, rotationEntry: number | null, fromCheckpointSize: number): ChainKey {
  return {
    key,
    fingerprint: appliancePublicKeyFingerprint(key),
    publicKeyPem: key.export({ type: 'spki', format: 'pem' }).toString(),
    rotationEntry,
    fromCheckpointSize,
  };
}

/**
 * The key rotation entries, as the rows claim them (in index order); whether each holds is decided
 * by the checkpoint that first covers it, and the row itself by the entry walk.
 */
function readKeyRotations(db: SqliteDatabase, findings: Findings): KeyRotation[] {
  // json_extract raises on malformed JSON: a damaged payload must be reported, not abort the check.
  const rows = prepareCached(
    db,
    `SELECT idx, payload FROM audit_entries WHERE kind = 'config-change' AND
       (CASE WHEN typeof(payload) = 'text' AND json_valid(payload)
             THEN json_extract(payload, '$.target') END) = '${KEY_ROTATION_TARGET}'
     ORDER BY idx`,
  ).all() as { idx: unknown; payload: string }[];
  const rotations: KeyRotation[] = [];
  for (const row of rows) {
    if (typeof row.idx !== 'number') continue; // reported by the entry walk
    try {
      rotations.push(parseKeyRotation(row.idx, row.payload));
    } catch (e: unknown) {
      const why = isCountersignError(e) ? e.message : String(e);
      findings.add({ index: row.idx, code: 'KEY_ROTATION_INVALID', message: why });
    }
  }
  return rotations;
}

/**
 * The key verification starts from: the pinned key, or, when the trail announced the pinned key
 * in a rotation, the first key of the chain (the later key vouches for it, see the file comment).
 */
function startingKey(pinned: KeyObject, rotations: readonly KeyRotation[]): KeyObject {
  const fingerprint = appliancePublicKeyFingerprint(pinned);
  const first = rotations[0];
  if (first === undefined || !rotations.some((r) => r.newKey.fingerprint === fingerprint)) return pinned;
  return parseAppliancePublicKey(first.oldKey.publicKeyPem);
}

/**
 * Reads and verifies every checkpoint row along the key chain; returns those whose signature
 * holds, by size, and the keys that were in force.
 */
function readCheckpoints(
  db: SqliteDatabase,
  pinned: KeyObject,
  rotations: readonly KeyRotation[],
  origin: string | undefined,
  findings: Findings,
): { signed: SignedCheckpoint[]; rows: number; latest?: Checkpoint; keys: ChainKey[] } {
  const signed: SignedCheckpoint[] = [];
  let rows = 0;
  let latest: Checkpoint | undefined;
  let pinnedOrigin = origin;
  const pinnedFingerprint = appliancePublicKeyFingerprint(pinned);
  let pinnedSigned = false;
  const keys: ChainKey[] = [chainKey(startingKey(pinned, rotations), null, 0)];
  let nextRotation = 0;
  for (const row of pagedRows<RowCheckpoint>(db, 'audit_checkpoints', 'size', 'size, root, note')) {
    rows++;
    const size = typeof row.size === 'number' ? row.size : -1;
    const where = size > 0 ? { index: size - 1, checkpointSize: size } : { checkpointSize: size };
    if (size < 0 || typeof row.note !== 'string' || !(row.root instanceof Uint8Array)) {
      findings.add({
        ...where,
        code: 'CHECKPOINT_INVALID',
        message: `checkpoint row of size ${size} is malformed`,
      });
      continue;
    }
    // The rotations this checkpoint is the first to cover: each must hand over from the key in
    // force, and the checkpoint must be signed by that key and every key announced.
    const inForce = keys[keys.length - 1] ?? keys[0];
    if (inForce === undefined) throw new CountersignError('INTERNAL', 'empty key chain');
    const required: KeyObject[] = [inForce.key];
    const requiredFingerprints = [inForce.fingerprint];
    const steps: KeyRotation[] = [];
    let tip = inForce.fingerprint;
    for (; nextRotation < rotations.length; nextRotation++) {
      const rotation = rotations[nextRotation];
      if (rotation === undefined || rotation.index >= size) break;
      const announced = rotation.newKey.fingerprint;
      if (rotation.oldKey.fingerprint !== tip) {
        findings.add({
          index: rotation.index,
          code: 'KEY_ROTATION_INVALID',
          message: `rotation entry ${rotation.index} hands over from ${rotation.oldKey.fingerprint}, but ${tip} is in force`,
        });
      } else if (
        keys.some((k) => k.fingerprint === announced) ||
        steps.some((r) => r.newKey.fingerprint === announced)
      ) {
        findings.add({
          index: rotation.index,
          code: 'KEY_ROTATION_INVALID',
          message: `rotation entry ${rotation.index} announces a key the chain already had`,
        });
      } else {
        steps.push(rotation);
        required.push(rotation.newPublicKey);
        requiredFingerprints.push(announced);
        tip = announced;
      }
    }
    let checkpoint: Checkpoint | undefined;
    try {
      const options = pinnedOrigin === undefined ? {} : { origin: pinnedOrigin };
      // Each call checks that key's signature line and ignores the others (signed-note §Signatures).
      for (const key of required) checkpoint = openCheckpoint(row.note, key, options);
    } catch (e: unknown) {
      const why = isCountersignError(e) ? `${e.message} [${e.code}]` : String(e);
      findings.add({
        ...where,
        code: 'CHECKPOINT_SIGNATURE_INVALID',
        message: `checkpoint of size ${size}: ${why}`,
      });
      for (const rotation of steps) {
        findings.add({
          index: rotation.index,
          code: 'KEY_ROTATION_INVALID',
          message: `the checkpoint of size ${size} covering rotation entry ${rotation.index} is not signed by both the old and the new key: the new key is not followed`,
        });
      }
      continue;
    }
    if (checkpoint === undefined) continue;
    pinnedOrigin ??= checkpoint.origin;
    if (checkpoint.size !== size || !equalHashes(checkpoint.root, row.root)) {
      findings.add({
        ...where,
        code: 'CHECKPOINT_INVALID',
        message: `checkpoint row of size ${size} disagrees with its note`,
      });
      continue;
    }
    for (const rotation of steps) {
      if (!verifierKeysMatch(rotation, checkpoint.origin)) {
        findings.add({
          index: rotation.index,
          code: 'KEY_ROTATION_INVALID',
          message: `rotation entry ${rotation.index} names verifier keys that are not its keys under ${checkpoint.origin}`,
        });
      }
      keys.push(chainKey(rotation.newPublicKey, rotation.index, size));
    }
    if (requiredFingerprints.includes(pinnedFingerprint)) pinnedSigned = true;
    signed.push({ size: checkpoint.size, root: checkpoint.root });
    latest = checkpoint;
  }
  if (signed.length > 0 && !pinnedSigned) {
    findings.add({
      code: 'CHECKPOINT_SIGNATURE_INVALID',
      message: `no checkpoint is signed by the given key ${pinnedFingerprint}`,
    });
  }
  return latest === undefined ? { signed, rows, keys } : { signed, rows, latest, keys };
}

/** The keys that may have signed a checkpoint of `size`: at a rotation checkpoint, both. */
function keysForSize(keys: readonly ChainKey[], size: number): KeyObject[] {
  return keys
    .filter((k, i) => {
      const until = keys[i + 1]?.fromCheckpointSize ?? Infinity;
      return k.fromCheckpointSize <= size && size <= until;
    })
    .map((k) => k.key);
}

function publicKeys(keys: readonly ChainKey[]): KeyInForce[] {
  return keys.map(({ fingerprint, publicKeyPem, rotationEntry, fromCheckpointSize }) => ({
    fingerprint,
    publicKeyPem,
    rotationEntry,
    fromCheckpointSize,
  }));
}

function describeRow(row: RowEntry): string | undefined {
  if (typeof row.idx !== 'number') return 'index is not an integer';
  for (const col of ['ts', 'kind', 'actor', 'payload', 'software_version'] as const) {
    if (typeof row[col] !== 'string') return `${col} is not text`;
  }
  if (row.clock_stepped_back !== 0 && row.clock_stepped_back !== 1) return 'clock_stepped_back is not 0 or 1';
  if (row.prev_ts !== null && typeof row.prev_ts !== 'string') return 'prev_ts is not text';
  if (!(row.entry_hash instanceof Uint8Array) || row.entry_hash.length !== 32)
    return 'entry_hash is not 32 bytes';
  if (typeof row.kind === 'string' && !isAuditKind(row.kind)) return `kind ${row.kind} is unknown`;
  return undefined;
}

/**
 * Verifies the audit database at `path` against the appliance public key (SPKI PEM). Never throws
 * for a damaged trail, only reports; throws CONFIG_INVALID / KEY_INVALID when it cannot start.
 */
export function verifyAuditDatabase(
  path: string,
  publicKeyPem: string,
  options: VerifyOptions = {},
): AuditVerification {
  const key = parseAppliancePublicKey(publicKeyPem);
  const db = openReadOnly(path);
  const findings = new Findings();
  try {
    // One read transaction: every page sees the same snapshot, even while the appliance appends.
    db.exec('BEGIN');
    if (!checkSchema(db, findings)) {
      return {
        ok: false,
        entries: 0,
        checkpoints: 0,
        problems: findings.list,
        problemsTruncated: false,
        keys: publicKeys([chainKey(key, null, 0)]),
      };
    }
    const rotations = readKeyRotations(db, findings);
    const cps = readCheckpoints(db, key, rotations, options.origin, findings);
    const tree = new MerkleTree();
    let entries = 0;
    let prevTs: string | null = null;
    let nextCheckpoint = 0;
    const recomputedRoots = new Map<number, boolean>();

    // Compares the signed roots due at the tree's current size with the recomputed root.
    const checkRootsAtCurrentSize = (): void => {
      for (;;) {
        const cp = cps.signed[nextCheckpoint];
        if (cp === undefined || cp.size > tree.size) return;
        nextCheckpoint++;
        if (cp.size < tree.size) continue; // only when rows were missing; reported already
        const matches = equalHashes(tree.root(), cp.root);
        recomputedRoots.set(cp.size, matches);
        if (!matches) {
          findings.add({
            index: Math.max(cp.size - 1, 0),
            checkpointSize: cp.size,
            code: 'CHECKPOINT_ROOT_MISMATCH',
            message: `entries 0..${cp.size - 1} do not hash to the root signed at size ${cp.size}`,
          });
        }
      }
    };

    checkRootsAtCurrentSize();
    for (const row of pagedRows<RowEntry>(db, 'audit_entries', 'idx', '*')) {
      entries++;
      const position = tree.size;
      const problem = describeRow(row);
      if (problem !== undefined || typeof row.idx !== 'number') {
        findings.add({
          index: position,
          code: 'ENTRY_INVALID',
          message: `row at position ${position}: ${problem ?? ''}`,
        });
        tree.append(new Uint8Array(32));
        continue;
      }
      const idx = row.idx;
      if (idx !== position) {
        findings.add({
          index: position,
          code: 'ENTRY_MISSING',
          message:
            idx > position ? `entries ${position}..${idx - 1} are missing` : `entry ${idx} is out of order`,
        });
      }
      const entry = {
        index: idx,
        ts: row.ts as string,
        kind: row.kind as AuditKind,
        actor: row.actor as string,
        payloadText: row.payload as string,
        softwareVersion: row.software_version as string,
        clockSteppedBack: row.clock_stepped_back === 1,
        prevTs: row.prev_ts as string | null,
      };
      const recomputed = computeEntryHash(entry);
      if (!equalHashes(recomputed, row.entry_hash as Uint8Array)) {
        findings.add({
          index: idx,
          code: 'ENTRY_HASH_MISMATCH',
          message: `entry ${idx} does not match its hash`,
        });
      }
      if (entry.prevTs !== prevTs) {
        findings.add({
          index: idx,
          code: 'ENTRY_CHAIN_BROKEN',
          message: `entry ${idx} names ${String(entry.prevTs)} as previous time, the previous row has ${String(prevTs)}`,
        });
      } else if (entry.clockSteppedBack !== (prevTs !== null && Date.parse(entry.ts) < Date.parse(prevTs))) {
        findings.add({
          index: idx,
          code: 'ENTRY_CHAIN_BROKEN',
          message: `entry ${idx} has a wrong clock step-back flag`,
        });
      }
      prevTs = entry.ts;
      // The tree is rebuilt from what the rows hold now, so the signed roots test the content.
      tree.append(recomputed);
      checkRootsAtCurrentSize();
    }

    const latestSigned = cps.signed.at(-1);
    const coveredSize = latestSigned?.size ?? 0;
    if (latestSigned !== undefined && latestSigned.size > tree.size) {
      findings.add({
        index: tree.size,
        checkpointSize: latestSigned.size,
        code: 'CHECKPOINT_BEYOND_LOG',
        message: `a checkpoint signs ${latestSigned.size} entries, the table holds ${tree.size}`,
      });
    } else if (tree.size > coveredSize) {
      findings.add({
        index: coveredSize,
        code: 'ENTRY_NOT_CHECKPOINTED',
        message: `entries ${coveredSize}..${tree.size - 1} are not covered by any signed checkpoint`,
      });
    }

    checkConsecutiveConsistency(cps.signed, tree, recomputedRoots, findings);

    if (options.expectedCheckpoint !== undefined) {
      checkExpected(
        options.expectedCheckpoint,
        cps.keys,
        options.origin ?? cps.latest?.origin,
        tree,
        findings,
      );
    }

    const base = {
      ok: findings.list.length === 0,
      entries,
      checkpoints: cps.rows,
      problems: findings.list,
      problemsTruncated: findings.truncated,
      keys: publicKeys(cps.keys),
    };
    const withLatest = cps.latest === undefined ? base : { ...base, latestCheckpoint: cps.latest };
    return findings.first === undefined ? withLatest : { ...withLatest, firstBadIndex: findings.first };
  } finally {
    db.close();
  }
}

/**
 * RFC 9162 §2.1.4.2 between each pair of consecutive signed checkpoints, with proofs taken from the
 * recomputed tree. Pairs where a root already failed to match are not reported twice.
 */
function checkConsecutiveConsistency(
  signed: readonly SignedCheckpoint[],
  tree: MerkleTree,
  recomputedRoots: ReadonlyMap<number, boolean>,
  findings: Findings,
): void {
  for (let i = 1; i < signed.length; i++) {
    const a = signed[i - 1];
    const b = signed[i];
    if (a === undefined || b === undefined || b.size > tree.size) continue;
    if (recomputedRoots.get(a.size) === false || recomputedRoots.get(b.size) === false) continue;
    const proof = tree.consistencyProof(a.size, b.size);
    if (!verifyConsistency(a.size, b.size, proof, a.root, b.root)) {
      findings.add({
        index: Math.max(b.size - 1, 0),
        checkpointSize: b.size,
        code: 'CHECKPOINTS_INCONSISTENT',
        message: `checkpoint ${b.size} is not consistent with checkpoint ${a.size}`,
      });
    }
  }
}

/** Opens the auditor's checkpoint with the key in force at its size (or, at a rotation, either). */
function openExpected(note: string, keys: readonly ChainKey[], origin: string | undefined): Checkpoint {
  const options = origin === undefined ? {} : { origin };
  const { text } = parseNote(note);
  const candidates = keysForSize(keys, parseCheckpoint(text).size);
  let failure: unknown = new CountersignError(
    'SIGNATURE_INVALID',
    'no key of the chain was in force at its size',
  );
  for (const key of candidates) {
    try {
      return openCheckpoint(note, key, options);
    } catch (e: unknown) {
      failure = e;
    }
  }
  throw failure;
}

function checkExpected(
  note: string,
  keys: readonly ChainKey[],
  origin: string | undefined,
  tree: MerkleTree,
  findings: Findings,
): void {
  let expected: Checkpoint;
  try {
    expected = openExpected(note, keys, origin);
  } catch (e: unknown) {
    const why = isCountersignError(e) ? `${e.message} [${e.code}]` : String(e);
    findings.add({
      code: 'EXPECTED_CHECKPOINT_INVALID',
      message: `the checkpoint kept outside does not verify: ${why}`,
    });
    return;
  }
  if (expected.size > tree.size) {
    findings.add({
      index: tree.size,
      checkpointSize: expected.size,
      code: 'TAIL_MISSING',
      message: `the checkpoint kept outside signs ${expected.size} entries, the database holds ${tree.size}`,
    });
    return;
  }
  // The database's tree at the expected size must be the tree the auditor saw: the root at that
  // size is what a consistency proof from it to the current size would commit to.
  const proof = tree.consistencyProof(expected.size, tree.size);
  if (!verifyConsistency(expected.size, tree.size, proof, expected.root, tree.root())) {
    findings.add({
      checkpointSize: expected.size,
      code: 'EXPECTED_CHECKPOINT_MISMATCH',
      message: `the database is not consistent with the checkpoint of size ${expected.size} kept outside`,
    });
  }
}

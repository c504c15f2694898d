/**
 * The audit trail on disk (Part 11 §11.10(e)): one append-only SQLite table of entries and one of
 * signed checkpoints. Every append writes the entry and a checkpoint for the new tree size in one
 * transaction, durable (WAL, synchronous=FULL) before it returns; if anything fails the caller
 * gets AUDIT_UNAVAILABLE and must deny. Triggers refuse UPDATE and DELETE; the Merkle tree and
 * the signed checkpoints make any change that bypasses them detectable (see verify.ts).
 */
import { CountersignError, isCountersignError } from '../errors.ts';
import { formatCheckpoint, parseCheckpoint, parseNote, signNote } from './checkpoint.ts';
import type { NoteSigner } from './checkpoint.ts';
import { canonicalJson, computeEntryHash, isAuditKind } from './entry.ts';
import type { AuditEntry, AuditKind, JsonObject } from './entry.ts';
import { MerkleTree, equalHashes } from './merkle.ts';
import { openSqlite, prepareCached } from './sqlite.ts';
import type { SqliteDatabase } from './sqlite.ts';

export const AUDIT_SCHEMA_VERSION = 1;

/** Rows read per query when loading leaf hashes (iterators are avoided: see sqlite.ts). */
const LOAD_PAGE = 10_000;

/** The key a caller-claimed time goes under in the payload: kept apart from the server's `ts`. */
export const CALLER_TIME_KEY = 'callerClaimedTime';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_schema_version (
  version INTEGER NOT NULL,
  applied_at TEXT NOT NULL,
  software_version TEXT NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS audit_entries (
  idx INTEGER PRIMARY KEY,
  ts TEXT NOT NULL,
  kind TEXT NOT NULL,
  actor TEXT NOT NULL,
  payload TEXT NOT NULL,
  software_version TEXT NOT NULL,
  clock_stepped_back INTEGER NOT NULL CHECK (clock_stepped_back IN (0, 1)),
  prev_ts TEXT,
  entry_hash BLOB NOT NULL CHECK (length(entry_hash) = 32)
) STRICT;

CREATE TABLE IF NOT EXISTS audit_checkpoints (
  size INTEGER PRIMARY KEY,
  root BLOB NOT NULL CHECK (length(root) = 32),
  note TEXT NOT NULL,
  ts TEXT NOT NULL,
  software_version TEXT NOT NULL
) STRICT;

CREATE INDEX IF NOT EXISTS audit_entries_ts ON audit_entries (ts);
CREATE INDEX IF NOT EXISTS audit_entries_kind ON audit_entries (kind, idx);
CREATE INDEX IF NOT EXISTS audit_entries_actor ON audit_entries (actor, idx);

CREATE TRIGGER IF NOT EXISTS audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS audit_entries_no_delete BEFORE DELETE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only: DELETE refused'); END;
CREATE TRIGGER IF NOT EXISTS audit_entries_in_order BEFORE INSERT ON audit_entries
WHEN NEW.idx IS NOT (SELECT COALESCE(MAX(idx), -1) + 1 FROM audit_entries)
BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only: entries are appended in index order'); END;

CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only: DELETE refused'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_in_order BEFORE INSERT ON audit_checkpoints
WHEN NEW.size <= (SELECT COALESCE(MAX(size), -1) FROM audit_checkpoints)
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only: checkpoints only grow'); END;

CREATE TRIGGER IF NOT EXISTS audit_schema_version_no_update BEFORE UPDATE ON audit_schema_version
BEGIN SELECT RAISE(ABORT, 'audit_schema_version is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_schema_version_no_delete BEFORE DELETE ON audit_schema_version
BEGIN SELECT RAISE(ABORT, 'audit_schema_version is append-only'); END;
`;

export interface AuditStoreOptions {
  /** The SQLite file (`<config>/data/audit.db`). */
  readonly path: string;
  /** The log's identity in its checkpoints (tlog-checkpoint origin); the signer's key name must match. */
  readonly origin: string;
  readonly signer: NoteSigner;
  /**
   * Further signers of every checkpoint this store writes (each adds a signature line): a key
   * rotation opens the store with the new key here, so the handover checkpoint carries both keys.
   */
  readonly cosigners?: readonly NoteSigner[];
  /**
   * Hold SQLite's exclusive lock from open to close, and fail to open (AUDIT_UNAVAILABLE, database
   * is locked) while another process has the database open: for offline maintenance such as a key
   * rotation, which must not race a running appliance.
   */
  readonly exclusive?: boolean;
  readonly softwareVersion: string;
  /** The server clock; injectable for tests. Defaults to the system clock. */
  readonly clock?: () => Date;
  /**
   * When the last entry was written by another software version, record the change as a `system`
   * entry on open (Part 11 §11.10(k)). Default true.
   */
  readonly recordSoftwareChange?: boolean;
}

export interface AppendInput {
  readonly kind: AuditKind;
  /** Who: the authenticated person or calling system. */
  readonly actor: string;
  /** What and why. Never patient identifiers: use hashIdentifier for series UIDs. */
  readonly payload: JsonObject;
  /** The time the caller claims; recorded in the payload under `callerClaimedTime`, never as `ts`. */
  readonly callerTime?: string;
}

export interface InclusionProof {
  readonly leafIndex: number;
  readonly treeSize: number;
  readonly hashes: readonly Uint8Array[];
}

export interface AppendResult {
  readonly index: number;
  readonly entryHash: Uint8Array;
  /** The signed checkpoint (C2SP signed note) for the tree that now includes the entry. */
  readonly checkpoint: string;
  readonly inclusionProof: InclusionProof;
  readonly entry: AuditEntry;
}

export interface StoredCheckpoint {
  readonly size: number;
  readonly root: Uint8Array;
  /** The signed note text. */
  readonly note: string;
  readonly ts: string;
  readonly softwareVersion: string;
}

export interface EntryWithProof {
  readonly entry: AuditEntry;
  readonly checkpoint: StoredCheckpoint;
  readonly inclusionProof: InclusionProof;
}

export interface ListQuery {
  /** Inclusive lower bound on `ts` (ISO 8601). */
  readonly from?: string;
  /** Exclusive upper bound on `ts` (ISO 8601). */
  readonly to?: string;
  readonly kind?: AuditKind;
  /** Payload field `decision` (`allow` | `deny`). */
  readonly decision?: string;
  /** Payload field `image` or `digest`, exact. */
  readonly image?: string;
  /** Payload field `policy` (a name, or `{ name }`), or an element of `policies` (names or `{ name }`). */
  readonly policy?: string;
  /** The entry's actor, exact. */
  readonly caller?: string;
  /** 1 to 1000, default 100. */
  readonly limit?: number;
  /** From a previous page's `nextCursor`. */
  readonly cursor?: string;
  readonly order?: 'asc' | 'desc';
}

export interface ListResult {
  readonly entries: readonly AuditEntry[];
  readonly nextCursor?: string;
}

export interface AuditStore {
  readonly path: string;
  readonly origin: string;
  /** Number of entries. */
  size(): number;
  append(input: AppendInput): AppendResult;
  /**
   * Appends several entries in one transaction (one fsync) and one checkpoint covering them all;
   * all or none are written. Results are in input order. Every input is validated first (one
   * invalid input: REQUEST_INVALID, nothing written); any failure after that is AUDIT_UNAVAILABLE
   * for the whole batch.
   */
  appendBatch(inputs: readonly AppendInput[]): AppendResult[];
  getEntry(index: number): EntryWithProof;
  listEntries(query?: ListQuery): ListResult;
  latestCheckpoint(): StoredCheckpoint;
  /** RFC 9162 §2.1.4 consistency proof between two tree sizes (to defaults to the current size). */
  consistencyProof(from: number, to?: number): Uint8Array[];
  close(): void;
}

interface EntryRow {
  idx: number;
  ts: string;
  kind: string;
  actor: string;
  payload: string;
  software_version: string;
  clock_stepped_back: number;
  prev_ts: string | null;
  entry_hash: Buffer;
}

interface CheckpointRow {
  size: number;
  root: Buffer;
  note: string;
  ts: string;
  software_version: string;
}

function damaged(message: string): CountersignError {
  return new CountersignError('AUDIT_UNAVAILABLE', `${message}: run \`countersign audit verify\``);
}

/** A row as read back; `kind` is checked since the table itself does not constrain it. */
export function entryFromRow(row: EntryRow): AuditEntry {
  if (!isAuditKind(row.kind))
    throw damaged(`audit entry ${row.idx} has unknown kind ${JSON.stringify(row.kind)}`);
  return {
    index: row.idx,
    ts: row.ts,
    kind: row.kind,
    actor: row.actor,
    payloadText: row.payload,
    softwareVersion: row.software_version,
    clockSteppedBack: row.clock_stepped_back === 1,
    prevTs: row.prev_ts,
    entryHash: new Uint8Array(row.entry_hash),
  };
}

function checkpointFromRow(row: CheckpointRow): StoredCheckpoint {
  return {
    size: row.size,
    root: new Uint8Array(row.root),
    note: row.note,
    ts: row.ts,
    softwareVersion: row.software_version,
  };
}

function toAuditUnavailable(e: unknown, what: string): CountersignError {
  if (isCountersignError(e) && e.code === 'AUDIT_UNAVAILABLE') return e;
  const why = e instanceof Error ? e.message : String(e);
  return new CountersignError('AUDIT_UNAVAILABLE', `${what}: ${why}`, { cause: e });
}

function normaliseTime(value: string, name: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new CountersignError('REQUEST_INVALID', `${name} is not an ISO 8601 time`);
  return new Date(ms).toISOString();
}

function applySchema(db: SqliteDatabase, softwareVersion: string, now: string): void {
  db.exec(SCHEMA);
  const row = prepareCached(db, 'SELECT MAX(version) AS v FROM audit_schema_version').get() as {
    v: number | null;
  };
  if (row.v === null) {
    prepareCached(
      db,
      'INSERT INTO audit_schema_version (version, applied_at, software_version) VALUES (?, ?, ?)',
    ).run(AUDIT_SCHEMA_VERSION, now, softwareVersion);
  } else if (row.v > AUDIT_SCHEMA_VERSION) {
    throw new CountersignError(
      'AUDIT_UNAVAILABLE',
      `audit database has schema ${row.v}, newer than this software (${AUDIT_SCHEMA_VERSION})`,
    );
  }
}

/**
 * Opens (creating on first use) the audit store. Loads every leaf hash into the Merkle tree, checks
 * that the indexes are contiguous and that the tree matches the latest checkpoint, and refuses to
 * open (AUDIT_UNAVAILABLE) a trail that does not.
 */
export function openAuditStore(options: AuditStoreOptions): AuditStore {
  const clock = options.clock ?? (() => new Date());
  const { origin, signer, softwareVersion } = options;
  const signers = [signer, ...(options.cosigners ?? [])];
  for (const s of signers) {
    if (s.name !== origin) {
      throw new CountersignError(
        'CONFIG_INVALID',
        `checkpoint signer name ${s.name} must be the origin ${origin}`,
      );
    }
  }
  let db: SqliteDatabase;
  try {
    db = openSqlite(options.path);
    // Before the first access: the lock is then taken by the schema transaction below and kept.
    // No waiting for it: a database in use is an answer, not a delay.
    if (options.exclusive === true) db.exec('PRAGMA busy_timeout = 0; PRAGMA locking_mode = EXCLUSIVE');
    db.exec('PRAGMA journal_mode = WAL');
    const mode = prepareCached(db, 'PRAGMA journal_mode').get() as { journal_mode: string };
    if (mode.journal_mode !== 'wal') throw new Error(`journal mode is ${mode.journal_mode}, WAL is required`);
    // FULL: each commit is fsynced before append returns (the entry is durable before the answer).
    db.exec('PRAGMA synchronous = FULL');
    db.exec('PRAGMA busy_timeout = 5000');
    // With recursive triggers on, REPLACE conflict resolution fires the DELETE triggers too.
    db.exec('PRAGMA recursive_triggers = ON');
    db.transaction(() => {
      applySchema(db, softwareVersion, clock().toISOString());
    }).immediate();
  } catch (e: unknown) {
    throw toAuditUnavailable(e, `cannot open audit database ${options.path}`);
  }

  const statements = {
    lastEntry: prepareCached(db, 'SELECT * FROM audit_entries ORDER BY idx DESC LIMIT 1'),
    entriesFrom: prepareCached(
      db,
      `SELECT idx, entry_hash FROM audit_entries WHERE idx >= ? ORDER BY idx LIMIT ${LOAD_PAGE}`,
    ).raw(),
    entry: prepareCached(db, 'SELECT * FROM audit_entries WHERE idx = ?'),
    insertEntry: prepareCached(
      db,
      `INSERT INTO audit_entries (idx, ts, kind, actor, payload, software_version, clock_stepped_back, prev_ts, entry_hash)
       VALUES (@idx, @ts, @kind, @actor, @payload, @software_version, @clock_stepped_back, @prev_ts, @entry_hash)`,
    ),
    latestCheckpoint: prepareCached(db, 'SELECT * FROM audit_checkpoints ORDER BY size DESC LIMIT 1'),
    insertCheckpoint: prepareCached(
      db,
      'INSERT INTO audit_checkpoints (size, root, note, ts, software_version) VALUES (?, ?, ?, ?, ?)',
    ),
  };

  const tree = new MerkleTree();

  /** Brings the in-memory tree up to the table (another process may have appended). */
  function syncTree(): void {
    for (;;) {
      const rows = statements.entriesFrom.all(tree.size) as [number, Buffer][];
      for (const [idx, hash] of rows) {
        if (idx !== tree.size) throw damaged(`audit entry ${tree.size} is missing`);
        if (hash.length !== 32) throw damaged(`audit entry ${idx} has a malformed hash`);
        tree.append(hash);
      }
      if (rows.length < LOAD_PAGE) return;
    }
  }

  function readLatestCheckpoint(): StoredCheckpoint | undefined {
    const row = statements.latestCheckpoint.get() as CheckpointRow | undefined;
    return row === undefined ? undefined : checkpointFromRow(row);
  }

  function writeCheckpoint(ts: string): StoredCheckpoint {
    const size = tree.size;
    const root = tree.root();
    const note = signNote(formatCheckpoint({ origin, size, root, extensions: [] }), signers);
    statements.insertCheckpoint.run(size, root, note, ts, softwareVersion);
    return { size, root, note, ts, softwareVersion };
  }

  /**
   * Writes entries in order, then one checkpoint for the tree that includes them all (group
   * commit): every entry's receipt proves inclusion in that one signed checkpoint.
   */
  function appendBatchInTransaction(inputs: readonly PreparedInput[]): AppendResult[] {
    syncTree();
    const last = statements.lastEntry.get() as EntryRow | undefined;
    let index = last === undefined ? 0 : last.idx + 1;
    if (index !== tree.size) throw damaged(`audit table has ${index} entries, tree has ${tree.size}`);
    // The server clock is authoritative (§11.10(e)); a clock behind the last entry is flagged,
    // not corrected, and the index stays monotonic.
    const now = clock();
    if (Number.isNaN(now.getTime()))
      throw new CountersignError('AUDIT_UNAVAILABLE', 'server clock is invalid');
    const ts = now.toISOString();
    let prevTs = last === undefined ? null : last.ts;
    const written: { index: number; entryHash: Uint8Array; entry: AuditEntry }[] = [];
    for (const input of inputs) {
      const clockSteppedBack = prevTs !== null && now.getTime() < Date.parse(prevTs);
      const entryWithoutHash = {
        index,
        ts,
        kind: input.kind,
        actor: input.actor,
        payloadText: input.payloadText,
        softwareVersion,
        clockSteppedBack,
        prevTs,
      };
      const entryHash = computeEntryHash(entryWithoutHash);
      statements.insertEntry.run({
        idx: index,
        ts,
        kind: input.kind,
        actor: input.actor,
        payload: entryWithoutHash.payloadText,
        software_version: softwareVersion,
        clock_stepped_back: clockSteppedBack ? 1 : 0,
        prev_ts: prevTs,
        entry_hash: entryHash,
      });
      tree.append(entryHash);
      written.push({ index, entryHash, entry: { ...entryWithoutHash, entryHash } });
      prevTs = ts;
      index++;
    }
    const checkpoint = writeCheckpoint(ts);
    return written.map((w) => ({
      ...w,
      checkpoint: checkpoint.note,
      inclusionProof: {
        leafIndex: w.index,
        treeSize: checkpoint.size,
        hashes: tree.inclusionProof(w.index, checkpoint.size),
      },
    }));
  }

  const appendTransaction = db.transaction(appendBatchInTransaction);

  function appendBatch(inputs: readonly AppendInput[]): AppendResult[] {
    // Validated and serialised before the transaction: a bad input is refused (REQUEST_INVALID)
    // and nothing of its batch is written, before any lock is taken.
    const prepared = inputs.map(prepareInput);
    if (prepared.length === 0) return [];
    const sizeBefore = tree.size;
    try {
      return appendTransaction.immediate(prepared);
    } catch (e: unknown) {
      // The transaction rolled back: forget the leaves too, so memory and disk agree.
      if (tree.size > sizeBefore) tree.truncate(sizeBefore);
      throw toAuditUnavailable(e, 'cannot record the audit entry');
    }
  }

  function append(input: AppendInput): AppendResult {
    const [result] = appendBatch([input]);
    if (result === undefined) throw new CountersignError('INTERNAL', 'append wrote no entry');
    return result;
  }

  // Load and check the trail before anyone can append to it.
  try {
    syncTree();
    let latest = readLatestCheckpoint();
    if (latest === undefined) {
      if (tree.size !== 0) throw damaged('audit entries exist without any checkpoint');
      const ts = clock().toISOString();
      db.transaction(() => writeCheckpoint(ts)).immediate();
      latest = readLatestCheckpoint();
    } else {
      if (latest.size !== tree.size) {
        throw damaged(`latest checkpoint covers ${latest.size} entries, the table holds ${tree.size}`);
      }
      if (!equalHashes(latest.root, tree.root(latest.size))) {
        throw damaged(`audit entries do not match the checkpoint at size ${latest.size}`);
      }
      // A trail keeps one origin for life (even across key rotations): a key whose origin differs
      // would start checkpoints that no verifier of this trail accepts.
      const written = parseCheckpoint(parseNote(latest.note).text).origin;
      if (written !== origin) {
        throw new CountersignError(
          'AUDIT_UNAVAILABLE',
          `the trail's checkpoints are under origin ${written}, not ${origin}: is this the trail's appliance key (and appliance-keys.json)?`,
        );
      }
    }
  } catch (e: unknown) {
    db.close();
    throw toAuditUnavailable(e, `cannot load audit database ${options.path}`);
  }

  const store: AuditStore = {
    path: options.path,
    origin,
    size: () => tree.size,
    append,
    appendBatch,
    getEntry(index) {
      syncTree();
      const row = statements.entry.get(index) as EntryRow | undefined;
      if (row === undefined) throw new CountersignError('NOT_FOUND', `no audit entry ${index}`);
      const checkpoint = readLatestCheckpoint();
      if (checkpoint === undefined || checkpoint.size <= index || checkpoint.size > tree.size) {
        throw damaged(`no checkpoint covers audit entry ${index}`);
      }
      return {
        entry: entryFromRow(row),
        checkpoint,
        inclusionProof: {
          leafIndex: index,
          treeSize: checkpoint.size,
          hashes: tree.inclusionProof(index, checkpoint.size),
        },
      };
    },
    listEntries: (query = {}) => listEntries(db, query),
    latestCheckpoint() {
      const checkpoint = readLatestCheckpoint();
      if (checkpoint === undefined) throw damaged('audit database has no checkpoint');
      return checkpoint;
    },
    consistencyProof(from, to) {
      syncTree();
      const size2 = to ?? tree.size;
      if (
        !Number.isSafeInteger(from) ||
        !Number.isSafeInteger(size2) ||
        from < 0 ||
        from > size2 ||
        size2 > tree.size
      ) {
        throw new CountersignError(
          'REQUEST_INVALID',
          `no consistency proof from ${from} to ${size2} (size ${tree.size})`,
        );
      }
      return tree.consistencyProof(from, size2);
    },
    close() {
      db.close();
    },
  };

  if (options.recordSoftwareChange !== false) {
    const last = statements.lastEntry.get() as EntryRow | undefined;
    if (last !== undefined && last.software_version !== softwareVersion) {
      try {
        append({
          kind: 'system',
          actor: 'countersign',
          payload: { event: 'software-version-changed', from: last.software_version, to: softwareVersion },
        });
      } catch (e: unknown) {
        db.close();
        throw e;
      }
    }
  }
  return store;
}

interface PreparedInput {
  readonly kind: AuditKind;
  readonly actor: string;
  readonly payloadText: string;
}

function prepareInput(input: AppendInput): PreparedInput {
  // Callers outside TypeScript (HTTP bodies) can still hand over any string.
  const kind: string = input.kind;
  if (!isAuditKind(kind)) throw new CountersignError('REQUEST_INVALID', `unknown audit kind ${kind}`);
  if (input.actor.length === 0)
    throw new CountersignError('REQUEST_INVALID', 'an audit entry needs an actor');
  return { kind, actor: input.actor, payloadText: canonicalJson(payloadWithCallerTime(input)) };
}

function payloadWithCallerTime(input: AppendInput): JsonObject {
  if (input.callerTime === undefined) return input.payload;
  if (Object.hasOwn(input.payload, CALLER_TIME_KEY)) {
    throw new CountersignError('REQUEST_INVALID', `payload must not set ${CALLER_TIME_KEY} itself`);
  }
  return { ...input.payload, [CALLER_TIME_KEY]: input.callerTime };
}

/** Appends one entry and its checkpoint, durably; throws AUDIT_UNAVAILABLE (deny!) when it cannot. */
export function appendAuditEntry(store: AuditStore, input: AppendInput): AppendResult {
  return store.append(input);
}

const MAX_PAGE = 1000;

/**
 * One page of entries matching `query`, on any connection (the store's, or a read-only one inside a
 * read transaction, as exports use it). Keyset paging on `idx`: follow `nextCursor`.
 */
export function listEntries(db: SqliteDatabase, query: ListQuery): ListResult {
  const limit = query.limit ?? 100;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new CountersignError('REQUEST_INVALID', `limit must be 1 to ${MAX_PAGE}`);
  }
  const order = query.order ?? 'asc';
  const where: string[] = [];
  const params: Record<string, string | number> = {};
  if (query.cursor !== undefined) {
    if (!/^(0|[1-9][0-9]{0,15})$/.test(query.cursor))
      throw new CountersignError('REQUEST_INVALID', 'invalid cursor');
    where.push(order === 'asc' ? 'idx >= @cursor' : 'idx <= @cursor');
    params['cursor'] = Number(query.cursor);
  }
  if (query.from !== undefined) {
    where.push('ts >= @from');
    params['from'] = normaliseTime(query.from, 'from');
  }
  if (query.to !== undefined) {
    where.push('ts < @to');
    params['to'] = normaliseTime(query.to, 'to');
  }
  if (query.kind !== undefined) {
    where.push('kind = @kind');
    params['kind'] = query.kind;
  }
  if (query.caller !== undefined) {
    where.push('actor = @caller');
    params['caller'] = query.caller;
  }
  if (query.decision !== undefined) {
    where.push("json_extract(payload, '$.decision') = @decision");
    params['decision'] = query.decision;
  }
  if (query.image !== undefined) {
    where.push("(json_extract(payload, '$.image') = @image OR json_extract(payload, '$.digest') = @image)");
    params['image'] = query.image;
  }
  if (query.policy !== undefined) {
    where.push(`(
      (CASE json_type(payload, '$.policy')
         WHEN 'text' THEN json_extract(payload, '$.policy')
         WHEN 'object' THEN json_extract(payload, '$.policy.name') END) = @policy
      OR EXISTS (SELECT 1 FROM json_each(payload, '$.policies') p
                 WHERE (CASE p.type WHEN 'text' THEN p.value
                                    WHEN 'object' THEN json_extract(p.value, '$.name') END) = @policy))`);
    params['policy'] = query.policy;
  }
  const sql =
    `SELECT * FROM audit_entries ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ` +
    `ORDER BY idx ${order === 'asc' ? 'ASC' : 'DESC'} LIMIT @limit`;
  params['limit'] = limit + 1;
  // The SQL text depends only on which filters are set, so the statement cache stays small.
  const rows = prepareCached(db, sql).all(params) as EntryRow[];
  const page = rows.slice(0, limit).map(entryFromRow);
  const next = rows[limit];
  return next === undefined ? { entries: page } : { entries: page, nextCursor: String(next.idx) };
}

/**
 * Reads the latest signed checkpoint of an audit database without opening it for writing (for the
 * CLI and for auditors; no signing key needed).
 */
export function readLatestCheckpoint(path: string): StoredCheckpoint {
  let db: SqliteDatabase;
  try {
    db = openSqlite(path, { readonly: true, fileMustExist: true });
  } catch (e: unknown) {
    throw new CountersignError('CONFIG_INVALID', `cannot open audit database ${path}`, { cause: e });
  }
  try {
    const row = prepareCached(db, 'SELECT * FROM audit_checkpoints ORDER BY size DESC LIMIT 1').get() as
      CheckpointRow | undefined;
    if (row === undefined)
      throw new CountersignError('NOT_FOUND', `audit database ${path} has no checkpoint`);
    return checkpointFromRow(row);
  } finally {
    db.close();
  }
}

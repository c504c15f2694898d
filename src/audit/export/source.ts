/**
 * Reading the audit database for an export (edge). One read-only connection inside one read
 * transaction, so the checkpoint, the proofs and the rows all come from the same snapshot while the
 * appliance keeps appending. Rows are read in keyset pages (`idx` cursor), never all at once.
 */
import { CountersignError } from '../../errors.ts';
import { computeEntryHash } from '../entry.ts';
import type { AuditEntry } from '../entry.ts';
import { equalHashes } from '../merkle.ts';
import { openSqlite, prepareCached } from '../sqlite.ts';
import type { SqliteDatabase } from '../sqlite.ts';
import { listEntries } from '../store.ts';
import type { ListQuery } from '../store.ts';
import type { ExportFilter } from './jsonl.ts';
import { ChunkedProofTree } from './proof-tree.ts';

const PAGE = 1000;

export interface SnapshotCheckpoint {
  readonly size: number;
  readonly root: Uint8Array;
  readonly note: string;
}

export interface ExportSource {
  readonly checkpoint: SnapshotCheckpoint;
  readonly tree: ChunkedProofTree;
  /**
   * The entries matching `filter` below the checkpoint's size, in index order. Each entry's hash is
   * recomputed; a row that does not match its hash stops the export (AUDIT_UNAVAILABLE).
   */
  entries(filter: ExportFilter, onProgress?: (scanned: number) => void): Generator<AuditEntry>;
  close(): void;
}

function damaged(message: string): CountersignError {
  return new CountersignError('AUDIT_UNAVAILABLE', `${message}: run \`countersign audit verify\``);
}

export function openExportSource(dbPath: string, chunkSize?: number): ExportSource {
  let db: SqliteDatabase;
  try {
    db = openSqlite(dbPath, { readonly: true, fileMustExist: true });
  } catch (e: unknown) {
    throw new CountersignError('CONFIG_INVALID', `cannot open audit database ${dbPath}`, { cause: e });
  }
  try {
    db.exec('BEGIN');
    const row = prepareCached(
      db,
      'SELECT size, root, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1',
    ).get() as { size: number; root: Buffer; note: string } | undefined;
    if (row === undefined) throw damaged(`audit database ${dbPath} has no checkpoint`);
    const checkpoint = { size: row.size, root: new Uint8Array(row.root), note: row.note };
    const leafPage = prepareCached(
      db,
      'SELECT idx, entry_hash FROM audit_entries WHERE idx >= ? AND idx < ? ORDER BY idx',
    ).raw();
    const readLeaves = (start: number, end: number): Uint8Array[] => {
      const rows = leafPage.all(start, end) as [number, Buffer][];
      return rows.map(([idx, hash], i) => {
        if (idx !== start + i) throw damaged(`audit entry ${start + i} is missing`);
        if (hash.length !== 32) throw damaged(`audit entry ${idx} has a malformed hash`);
        return new Uint8Array(hash);
      });
    };
    const tree = ChunkedProofTree.build(checkpoint.size, readLeaves, chunkSize);
    if (!equalHashes(tree.root(), checkpoint.root)) {
      throw damaged(`the audit entries do not hash to the root signed at size ${checkpoint.size}`);
    }

    function* entries(filter: ExportFilter, onProgress?: (scanned: number) => void): Generator<AuditEntry> {
      let cursor: string | undefined;
      for (;;) {
        const query: ListQuery = {
          ...filter,
          limit: PAGE,
          order: 'asc',
          ...(cursor === undefined ? {} : { cursor }),
        };
        const page = listEntries(db, query);
        for (const entry of page.entries) {
          if (entry.index >= checkpoint.size) return;
          if (!equalHashes(computeEntryHash(entry), entry.entryHash)) {
            throw damaged(`audit entry ${entry.index} does not match its hash`);
          }
          yield entry;
        }
        const last = page.entries.at(-1);
        if (last !== undefined) onProgress?.(Math.min(last.index + 1, checkpoint.size));
        if (page.nextCursor === undefined) return;
        cursor = page.nextCursor;
      }
    }

    return {
      checkpoint,
      tree,
      entries,
      close: () => {
        if (db.inTransaction) db.exec('COMMIT');
        db.close();
      },
    };
  } catch (e: unknown) {
    db.close();
    throw e;
  }
}

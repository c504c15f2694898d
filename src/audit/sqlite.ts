/**
 * Opening SQLite for the audit trail (edge).
 *
 * Stopgap: better-sqlite3 12 wraps connections, statements and iterators in node::ObjectWrap, and
 * built against Node >= 24.19 headers its destructor aborts the whole process when the garbage
 * collector runs outside a JavaScript context (nodejs/node#65446; fixed by better-sqlite3 13,
 * which uses Node-API). An audit store that can crash the appliance at a random GC is not
 * acceptable, so until the dependency moves on, every connection and statement made here is kept
 * alive for the life of the process (statements are cached per SQL text, so the number is
 * bounded), and nothing here uses `iterate()` (iterators would be unbounded garbage).
 */
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase, Options, Statement } from 'better-sqlite3';

const connections = new Set<SqliteDatabase>();
const statements = new Map<SqliteDatabase, Map<string, Statement>>();

export type { SqliteDatabase };

export function openSqlite(path: string, options?: Options): SqliteDatabase {
  const db = new Database(path, options);
  connections.add(db);
  statements.set(db, new Map());
  return db;
}

/** A prepared statement, cached per connection and SQL text and never released (see above). */
export function prepareCached(db: SqliteDatabase, sql: string): Statement {
  let cache = statements.get(db);
  if (cache === undefined) {
    cache = new Map();
    statements.set(db, cache);
    connections.add(db);
  }
  let statement = cache.get(sql);
  if (statement === undefined) {
    statement = db.prepare(sql);
    cache.set(sql, statement);
  }
  return statement;
}

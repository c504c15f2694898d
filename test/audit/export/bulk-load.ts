/**
 * Fills an audit database fast, for large-export tests and the export benchmark only: rows go in
 * with one transaction per batch and one signed checkpoint at the end, instead of the store's one
 * durable transaction and checkpoint per entry. The result is a trail the store and
 * `audit verify` accept (same entry hashes, same checkpoint format).
 */
import path from 'node:path';
import { applianceNoteSigner, loadOrCreateApplianceKey } from '../../../src/audit/appliance-key.ts';
import { signCheckpoint } from '../../../src/audit/checkpoint.ts';
import { canonicalJson, computeEntryHash } from '../../../src/audit/entry.ts';
import { MerkleTree } from '../../../src/audit/merkle.ts';
import { openSqlite } from '../../../src/audit/sqlite.ts';
import { openAuditStore } from '../../../src/audit/store.ts';

const BATCH = 20_000;

/** Appends `n` synthetic decisions (and a config change every 1000) to `<dataDir>/audit.db`. */
export function bulkLoad(dataDir: string, n: number, origin = 'countersign.bench/audit'): void {
  const key = loadOrCreateApplianceKey(dataDir);
  const signer = applianceNoteSigner(key, origin);
  const dbPath = path.join(dataDir, 'audit.db');
  openAuditStore({
    path: dbPath,
    origin,
    signer,
    softwareVersion: '1.0.0',
    recordSoftwareChange: false,
  }).close();
  const db = openSqlite(dbPath);
  try {
    const insert = db.prepare(
      `INSERT INTO audit_entries (idx, ts, kind, actor, payload, software_version, clock_stepped_back, prev_ts, entry_hash)
       VALUES (?, ?, ?, ?, ?, '1.0.0', 0, ?, ?)`,
    );
    const tree = new MerkleTree();
    const start = Date.parse('2025-01-01T00:00:00.000Z');
    let prevTs: string | null = null;
    for (let from = 0; from < n; from += BATCH) {
      db.transaction(() => {
        for (let i = from; i < Math.min(from + BATCH, n); i++) {
          const ts = new Date(start + i * 1000).toISOString();
          const change = i % 1000 === 999;
          const deny = i % 7 === 0;
          const kind = change ? 'config-change' : 'decision';
          const actor = change ? 'admin@hospital.example' : i % 2 === 0 ? 'mercure' : 'ci-runner';
          const payload = canonicalJson(
            change
              ? {
                  target: 'policies/radiology-prod.yaml',
                  action: 'update',
                  reason: `CHG-${i}`,
                  oldHash: `sha256:${'a'.repeat(64)}`,
                  newHash: `sha256:${'b'.repeat(64)}`,
                }
              : {
                  decision: deny ? 'deny' : 'allow',
                  image: `registry.hospital.example/vendor/algo-${i % 50}:1.${i % 9}`,
                  digest: `sha256:${i.toString(16).padStart(64, '0')}`,
                  policies: [
                    { name: i % 3 === 0 ? 'research' : 'radiology-prod', hash: `sha256:${'c'.repeat(64)}` },
                  ],
                  signers: [
                    { name: 'vendor-release', satisfied: !deny, code: deny ? 'SIGNATURE_INVALID' : 'OK' },
                    { name: 'hospital-qa', satisfied: true, code: 'OK' },
                  ],
                  ...(deny ? { reasons: ['THRESHOLD_NOT_MET'] } : {}),
                },
          );
          const hash = computeEntryHash({
            index: i,
            ts,
            kind,
            actor,
            payloadText: payload,
            softwareVersion: '1.0.0',
            clockSteppedBack: false,
            prevTs,
          });
          insert.run(i, ts, kind, actor, payload, prevTs, hash);
          tree.append(hash);
          prevTs = ts;
        }
      }).immediate();
    }
    const root = tree.root();
    const note = signCheckpoint({ origin, size: n, root, extensions: [] }, signer);
    db.prepare(
      'INSERT INTO audit_checkpoints (size, root, note, ts, software_version) VALUES (?, ?, ?, ?, ?)',
    ).run(n, root, note, new Date(start + Math.max(n - 1, 0) * 1000).toISOString(), '1.0.0');
  } finally {
    db.close();
  }
}

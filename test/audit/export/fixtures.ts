/** A configuration directory with an audit trail to export: data/audit.db, data/appliance.{key,pub}. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { applianceNoteSigner, loadOrCreateApplianceKey } from '../../../src/audit/appliance-key.ts';
import { openAuditStore } from '../../../src/audit/store.ts';
import type { AuditStore } from '../../../src/audit/store.ts';

export const ORIGIN = 'countersign.test/audit';

export interface ExportFixture {
  readonly dir: string;
  readonly dataDir: string;
  readonly dbPath: string;
  open(): AuditStore;
}

export function exportFixture(t: { after(fn: () => void): void }): ExportFixture {
  const dir = mkdtempSync(path.join(tmpdir(), 'countersign-export-'));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const dataDir = path.join(dir, 'data');
  mkdirSync(dataDir);
  const key = loadOrCreateApplianceKey(dataDir);
  const dbPath = path.join(dataDir, 'audit.db');
  let ms = Date.parse('2025-03-01T08:00:00.000Z');
  return {
    dir,
    dataDir,
    dbPath,
    open: () =>
      openAuditStore({
        path: dbPath,
        origin: ORIGIN,
        signer: applianceNoteSigner(key, ORIGIN),
        softwareVersion: '1.0.0',
        clock: () => new Date((ms += 1000)),
      }),
  };
}

/**
 * Appends `n` decisions (every 7th a denial; policies alternate) and a configuration change every
 * 25 entries, one of them with a formula-looking reason. Returns the number of each.
 */
export function fillTrail(
  store: AuditStore,
  n: number,
): { decisions: number; changes: number; denials: number } {
  let changes = 0;
  let denials = 0;
  for (let i = 0; i < n; i++) {
    if (i % 25 === 0) {
      changes++;
      store.append({
        kind: 'config-change',
        actor: i === 0 ? '=HYPERLINK("http://evil.example")' : 'admin@hospital.example',
        payload: {
          target: 'policies/radiology-prod.yaml',
          action: 'update',
          reason: i === 0 ? '+cmd|calc' : `ticket CHG-${i}, "quoted", new vendor key`,
          oldHash: `sha256:${'a'.repeat(64)}`,
          newHash: `sha256:${'b'.repeat(64)}`,
        },
      });
    }
    const deny = i % 7 === 0;
    if (deny) denials++;
    store.append({
      kind: 'decision',
      actor: i % 2 === 0 ? 'mercure' : 'ci-runner',
      payload: {
        decision: deny ? 'deny' : 'allow',
        image: `registry.hospital.example/vendor/algo:${i % 5}`,
        digest: `sha256:${String(i).padStart(64, '0')}`,
        policies: [{ name: i % 3 === 0 ? 'research' : 'radiology-prod', hash: 'sha256:abc' }],
        signers: [{ name: 'vendor-release', satisfied: !deny, code: deny ? 'SIGNATURE_INVALID' : 'OK' }],
        ...(deny ? { reasons: ['THRESHOLD_NOT_MET'] } : {}),
        note: 'Zürich – 東京',
      },
    });
  }
  return { decisions: n, changes, denials };
}

/** A keys/ and trust-root/ directory for the report's inventory. */
export function addInventory(dir: string): void {
  mkdirSync(path.join(dir, 'keys'));
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(
    path.join(dir, 'keys', 'vendor-release.pub'),
    publicKey.export({ type: 'spki', format: 'pem' }),
  );
  mkdirSync(path.join(dir, 'trust-root', 'hospital-private'), { recursive: true });
  writeFileSync(path.join(dir, 'trust-root', 'hospital-private', 'trusted_root.json'), '{}');
}

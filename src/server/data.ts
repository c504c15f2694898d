/**
 * The appliance's data directory (edge): the audit database (`audit.db`, with the `tokens` table
 * beside the append-only trail) and the appliance key that signs checkpoints. Shared by `serve`
 * and `token`, so both write to the same trail under the same origin.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  applianceNoteSigner,
  applianceOrigin,
  loadOrCreateApplianceKey,
  openAuditStore,
} from '../audit/index.ts';
import type { ApplianceKey, AuditStore } from '../audit/index.ts';
import { openTokenStore } from '../auth/index.ts';
import type { TokenStore } from '../auth/index.ts';

export const AUDIT_DB_FILE = 'audit.db';

export interface ApplianceData {
  readonly dataDir: string;
  readonly key: ApplianceKey;
  readonly origin: string;
  readonly audit: AuditStore;
  readonly tokens: TokenStore;
  close(): void;
}

/**
 * The log origin (tlog-checkpoint §origin): unique per appliance, derived from the trail's first
 * key and kept across key rotations, so checkpoints of two appliances can never be confused.
 */
export function auditOrigin(key: ApplianceKey): string {
  return applianceOrigin(key.originPublicKey);
}

export function openApplianceData(options: {
  dataDir: string;
  softwareVersion: string;
  clock?: () => Date;
}): ApplianceData {
  const dataDir = path.resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const key = loadOrCreateApplianceKey(dataDir);
  const origin = auditOrigin(key);
  const audit = openAuditStore({
    path: path.join(dataDir, AUDIT_DB_FILE),
    origin,
    signer: applianceNoteSigner(key, origin),
    softwareVersion: options.softwareVersion,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  let tokens: TokenStore;
  try {
    tokens = openTokenStore(
      path.join(dataDir, AUDIT_DB_FILE),
      options.clock === undefined ? {} : { clock: options.clock },
    );
  } catch (e: unknown) {
    audit.close();
    throw e;
  }
  return {
    dataDir,
    key,
    origin,
    audit,
    tokens,
    close() {
      tokens.close();
      audit.close();
    },
  };
}

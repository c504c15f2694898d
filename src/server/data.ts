/**
 * The appliance's data directory (edge): the audit database (`audit.db`, with the `tokens` table
 * beside the append-only trail) and the appliance key that signs checkpoints. Shared by `serve`
 * and `token`, so both write to the same trail under the same origin.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import {
  applianceNoteSigner,
  applianceOrigin,
  loadOrCreateApplianceKey,
  openAuditStore,
} from '../audit/index.ts';
import type { ApplianceKey, AuditStore } from '../audit/index.ts';
import { openTokenStore } from '../auth/index.ts';
import type { TokenStore } from '../auth/index.ts';
import { SETTINGS_FILE } from '../config/load.ts';
import { parseSettings } from '../config/settings.ts';
import { CountersignError } from '../errors.ts';

export const AUDIT_DB_FILE = 'audit.db';

/**
 * The data directory of a configuration directory: `dataDir` of countersign.yaml (default `data`),
 * relative to it. Reads only the settings file, so tokens can be managed while a policy is broken.
 */
export function dataDirOf(configDir: string): string {
  const file = path.join(configDir, SETTINGS_FILE);
  if (!existsSync(file)) return path.resolve(configDir, 'data');
  let doc: unknown;
  try {
    doc = YAML.parse(readFileSync(file, 'utf8'));
  } catch (e: unknown) {
    throw new CountersignError('CONFIG_INVALID', `${SETTINGS_FILE}: not YAML`, { cause: e });
  }
  return path.resolve(configDir, parseSettings(doc, SETTINGS_FILE).dataDir);
}

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

/**
 * The signer and key inventory of a report (edge: reads the configuration directory): every file
 * under keys/ and trust-root/<name>/ with its SHA-256, and for keys the algorithm and SPKI
 * fingerprint, so an inspector can match the keys that signed decisions to the policies' signers.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parsePublicKeyPem } from '../../verify/keys.ts';
import type { InventoryItem } from './pdf.ts';

const MAX_ITEMS = 500;
const MAX_FILE_BYTES = 4 * 1024 * 1024;

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isFile() && !d.name.startsWith('.'))
    .map((d) => d.name)
    .sort();
}

function read(file: string): Buffer | undefined {
  return statSync(file).size > MAX_FILE_BYTES ? undefined : readFileSync(file);
}

export function readInventory(configDir: string): InventoryItem[] {
  const items: InventoryItem[] = [];
  const keysDir = path.join(configDir, 'keys');
  for (const name of files(keysDir)) {
    const bytes = read(path.join(keysDir, name));
    if (bytes === undefined) continue;
    let detail: string;
    try {
      const key = parsePublicKeyPem(bytes.toString('utf8'), name);
      detail = `${key.algorithm} key, SPKI ${key.fingerprint.slice(0, 16)}...`;
    } catch {
      detail = 'unreadable key file';
    }
    items.push({ name: `keys/${name}`, detail, hash: sha256(bytes) });
  }
  const rootsDir = path.join(configDir, 'trust-root');
  if (existsSync(rootsDir)) {
    const roots = readdirSync(rootsDir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    for (const root of roots) {
      for (const name of files(path.join(rootsDir, root))) {
        const bytes = read(path.join(rootsDir, root, name));
        if (bytes === undefined) continue;
        items.push({ name: `trust-root/${root}/${name}`, detail: `trust root ${root}`, hash: sha256(bytes) });
      }
    }
  }
  return items.slice(0, MAX_ITEMS);
}

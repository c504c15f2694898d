/**
 * Rotating the appliance key (edge: the data directory and the audit database), so that one trail
 * outlives its key and stays verifiable offline:
 *
 * 1. The trail is verified with the key in use; a damaged trail is never handed over (the new key
 *    would vouch for it).
 * 2. A new Ed25519 key is written as `appliance.key.new` (the marker of a rotation in progress).
 * 3. With the database locked exclusively (the appliance must be stopped), one `config-change`
 *    entry announces the new key (key-chain.ts); its checkpoint is signed by the old and the new
 *    key (signed-note §Format: several signature lines).
 * 4. The old key is kept in `retired/`, `appliance-keys.json` lists the chain, and the new key
 *    replaces `appliance.key` / `appliance.pub`, the key file last: until then the marker stays,
 *    the appliance refuses to start, and running the command again finishes the job.
 *
 * The log origin does not change: it stays the one derived from the trail's first key.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { CountersignError, isCountersignError } from '../errors.ts';
import {
  APPLIANCE_KEY_CHAIN_FILE,
  APPLIANCE_KEY_FILE,
  APPLIANCE_PUBLIC_KEY_FILE,
  PENDING_KEY_SUFFIX,
  RETIRED_KEYS_DIR,
  appliancePublicKeyFingerprint,
  applianceOrigin,
  formatApplianceKeyChain,
  loadApplianceKey,
} from './appliance-key.ts';
import type { ApplianceKeyRecord } from './appliance-key.ts';
import { ed25519NoteSigner } from './checkpoint.ts';
import { describeKey, keyRotationPayload } from './key-chain.ts';
import type { AnnouncedKey } from './key-chain.ts';
import { openAuditStore, readLatestCheckpoint } from './store.ts';
import type { AuditStore } from './store.ts';
import { verifyAuditDatabase } from './verify.ts';
import type { AuditVerification, KeyInForce } from './verify.ts';

export interface RotateApplianceKeyOptions {
  /** The data directory holding `appliance.key`. */
  readonly dataDir: string;
  /** The audit database (`<dataDir>/audit.db`). */
  readonly dbPath: string;
  /** Why (recorded in the entry; Part 11 §11.10(e)). */
  readonly reason: string;
  /** Who (recorded in the entry). */
  readonly actor: string;
  readonly softwareVersion: string;
  readonly clock?: () => Date;
}

export interface KeyRotationResult {
  /** True when this call finished a rotation an earlier, interrupted call had recorded. */
  readonly resumed: boolean;
  /** The rotation entry's index. */
  readonly index: number;
  /** The checkpoint covering it, signed by both keys: worth archiving with the new public key. */
  readonly checkpoint: string;
  readonly origin: string;
  readonly oldKey: AnnouncedKey;
  readonly newKey: AnnouncedKey;
  /** Where the old key pair is kept. */
  readonly retiredKeyPath: string;
  readonly retiredPublicKeyPath: string;
  /** `appliance-keys.json`. */
  readonly chainPath: string;
  readonly keys: readonly ApplianceKeyRecord[];
}

interface KeyFiles {
  readonly keyPath: string;
  readonly publicKeyPath: string;
  readonly pendingKeyPath: string;
  readonly pendingPublicKeyPath: string;
}

function keyFiles(dataDir: string): KeyFiles {
  const keyPath = path.join(dataDir, APPLIANCE_KEY_FILE);
  const publicKeyPath = path.join(dataDir, APPLIANCE_PUBLIC_KEY_FILE);
  return {
    keyPath,
    publicKeyPath,
    pendingKeyPath: `${keyPath}${PENDING_KEY_SUFFIX}`,
    pendingPublicKeyPath: `${publicKeyPath}${PENDING_KEY_SUFFIX}`,
  };
}

/** Writes and fsyncs a file with exactly `mode` (the umask may not widen or narrow it). */
function writeDurably(file: string, content: string, mode: number, flag = 'w'): void {
  const fd = openSync(file, flag, mode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(file, mode);
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Reads an Ed25519 private key file that only its owner may read (as loadApplianceKey does). */
function readPrivateKey(file: string): KeyObject {
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new CountersignError(
      'CONFIG_INVALID',
      `${file} is readable by others (mode ${mode.toString(8)}): chmod 600`,
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: readFileSync(file, 'utf8'), format: 'pem' });
  } catch (e: unknown) {
    throw new CountersignError('KEY_INVALID', `${file} is not a PEM private key`, { cause: e });
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new CountersignError('KEY_INVALID', `${file} is not an Ed25519 key`);
  return key;
}

const publicPem = (key: KeyObject): string =>
  createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();

/** Verifies the trail with `key`; a rotation never hands over a trail that does not verify. */
function verifyBeforeRotation(dbPath: string, key: KeyObject): AuditVerification {
  const result = verifyAuditDatabase(dbPath, publicPem(key));
  if (!result.ok) {
    const first = result.problems[0];
    throw new CountersignError(
      'AUDIT_UNAVAILABLE',
      `the audit trail does not verify${first === undefined ? '' : ` (${first.code}: ${first.message})`}: ` +
        'run `countersign audit verify`; a damaged trail is not handed over to a new key',
    );
  }
  return result;
}

function records(keys: readonly KeyInForce[], origin: string): ApplianceKeyRecord[] {
  return keys.map((k) => ({
    ...k,
    verifierKey: describeKey(origin, createPublicKey(k.publicKeyPem)).verifierKey,
  }));
}

function retiredPaths(dataDir: string, key: KeyObject): { key: string; pub: string } {
  const hex = appliancePublicKeyFingerprint(key).slice('sha256:'.length);
  const base = path.join(dataDir, RETIRED_KEYS_DIR, `appliance-${hex.slice(0, 16)}`);
  return { key: `${base}.key`, pub: `${base}.pub` };
}

/**
 * Installs a recorded rotation; every step may be repeated. The new key file moves last, so that
 * `appliance.key.new` remains until the rotation is complete.
 */
function install(
  dataDir: string,
  files: KeyFiles,
  oldKey: KeyObject,
  origin: string,
  chain: readonly ApplianceKeyRecord[],
): { retired: { key: string; pub: string }; chainPath: string } {
  const retired = retiredPaths(dataDir, oldKey);
  mkdirSync(path.dirname(retired.key), { recursive: true, mode: 0o700 });
  writeDurably(retired.key, oldKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600);
  writeDurably(retired.pub, publicPem(oldKey), 0o600);
  syncDirectory(path.dirname(retired.key));
  const chainPath = path.join(dataDir, APPLIANCE_KEY_CHAIN_FILE);
  writeDurably(`${chainPath}${PENDING_KEY_SUFFIX}`, formatApplianceKeyChain(origin, chain), 0o644);
  renameSync(`${chainPath}${PENDING_KEY_SUFFIX}`, chainPath);
  if (existsSync(files.pendingPublicKeyPath)) renameSync(files.pendingPublicKeyPath, files.publicKeyPath);
  renameSync(files.pendingKeyPath, files.keyPath);
  syncDirectory(dataDir);
  return { retired, chainPath };
}

function discardPending(files: KeyFiles): void {
  rmSync(files.pendingKeyPath, { force: true });
  rmSync(files.pendingPublicKeyPath, { force: true });
}

function inUse(e: unknown): CountersignError {
  const cause: unknown = isCountersignError(e) ? e.cause : undefined;
  if (cause instanceof Error && 'code' in cause && cause.code === 'SQLITE_BUSY') {
    return new CountersignError(
      'AUDIT_UNAVAILABLE',
      'the audit database is in use: stop the appliance before rotating its key',
      { cause: e },
    );
  }
  return isCountersignError(e)
    ? e
    : new CountersignError('AUDIT_UNAVAILABLE', `cannot open the audit database: ${String(e)}`, { cause: e });
}

function result(
  resumed: boolean,
  origin: string,
  oldKey: KeyObject,
  newKey: KeyObject,
  chain: readonly ApplianceKeyRecord[],
  installed: { retired: { key: string; pub: string }; chainPath: string },
  index: number,
  checkpoint: string,
): KeyRotationResult {
  return {
    resumed,
    index,
    checkpoint,
    origin,
    oldKey: describeKey(origin, oldKey),
    newKey: describeKey(origin, newKey),
    retiredKeyPath: installed.retired.key,
    retiredPublicKeyPath: installed.retired.pub,
    chainPath: installed.chainPath,
    keys: chain,
  };
}

/**
 * A rotation interrupted after `appliance.key.new` was written: finished when the trail records
 * it, its leftovers discarded (undefined returned) when it does not.
 */
function resume(options: RotateApplianceKeyOptions, files: KeyFiles): KeyRotationResult | undefined {
  const oldKey = readPrivateKey(files.keyPath);
  const newKey = readPrivateKey(files.pendingKeyPath);
  const check = verifyBeforeRotation(options.dbPath, oldKey);
  const last = check.keys.at(-1);
  const origin = check.latestCheckpoint?.origin;
  if (last?.fingerprint === appliancePublicKeyFingerprint(oldKey)) {
    // Never recorded: the new key signed nothing in the trail.
    discardPending(files);
    return undefined;
  }
  if (
    origin === undefined ||
    last?.fingerprint !== appliancePublicKeyFingerprint(newKey) ||
    last.rotationEntry === null
  ) {
    throw new CountersignError(
      'CONFIG_INVALID',
      `${files.pendingKeyPath} is neither the key the trail hands over to nor unused: inspect the data directory`,
    );
  }
  const chain = records(check.keys, origin);
  const installed = install(options.dataDir, files, oldKey, origin, chain);
  const note = readLatestCheckpoint(options.dbPath).note;
  return result(true, origin, oldKey, newKey, chain, installed, last.rotationEntry, note);
}

/**
 * Hands the audit trail over to a new appliance key (see the file comment). The appliance must be
 * stopped: while another process has the database open this throws AUDIT_UNAVAILABLE and changes
 * nothing.
 */
export function rotateApplianceKey(options: RotateApplianceKeyOptions): KeyRotationResult {
  const reason = options.reason.trim();
  if (reason.length === 0) throw new CountersignError('USAGE', 'a key rotation needs a reason');
  if (options.actor.length === 0) throw new CountersignError('USAGE', 'a key rotation needs an actor');
  if (!existsSync(options.dbPath)) {
    throw new CountersignError('CONFIG_INVALID', `no audit database ${options.dbPath}: nothing to rotate`);
  }
  const files = keyFiles(options.dataDir);
  if (existsSync(files.pendingKeyPath)) {
    const resumed = resume(options, files);
    if (resumed !== undefined) return resumed;
  }

  const current = loadApplianceKey(options.dataDir);
  const origin = applianceOrigin(current.originPublicKey);
  const before = verifyBeforeRotation(options.dbPath, current.privateKey);
  if (before.latestCheckpoint !== undefined && before.latestCheckpoint.origin !== origin) {
    throw new CountersignError(
      'CONFIG_INVALID',
      `the trail's checkpoints are under ${before.latestCheckpoint.origin}, the key chain gives ${origin}: check ${APPLIANCE_KEY_CHAIN_FILE}`,
    );
  }

  const { privateKey: newKey } = generateKeyPairSync('ed25519');
  // 'wx': two rotations at once cannot both write the new key.
  writeDurably(files.pendingKeyPath, newKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600, 'wx');
  writeDurably(files.pendingPublicKeyPath, publicPem(newKey), 0o644);
  syncDirectory(options.dataDir);

  let store: AuditStore;
  try {
    store = openAuditStore({
      path: options.dbPath,
      origin,
      signer: ed25519NoteSigner(origin, current.privateKey),
      cosigners: [ed25519NoteSigner(origin, newKey)],
      exclusive: true,
      recordSoftwareChange: false,
      softwareVersion: options.softwareVersion,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
  } catch (e: unknown) {
    discardPending(files);
    throw inUse(e);
  }
  let index: number;
  let checkpoint: string;
  try {
    if (store.size() !== before.entries) {
      throw new CountersignError(
        'AUDIT_UNAVAILABLE',
        'the audit trail grew while it was being verified: stop the appliance before rotating its key',
      );
    }
    const appended = store.append({
      kind: 'config-change',
      actor: options.actor,
      payload: keyRotationPayload({
        oldKey: describeKey(origin, current.publicKey),
        newKey: describeKey(origin, newKey),
        reason,
      }),
    });
    index = appended.index;
    checkpoint = appended.checkpoint;
  } catch (e: unknown) {
    // Nothing was recorded (append is all or nothing): the new key never signed anything kept.
    store.close();
    discardPending(files);
    throw e;
  }
  store.close();

  const newRecord: ApplianceKeyRecord = {
    ...describeKey(origin, newKey),
    rotationEntry: index,
    fromCheckpointSize: index + 1,
  };
  const chain = [...records(before.keys, origin), newRecord];
  const installed = install(options.dataDir, files, current.privateKey, origin, chain);
  return result(false, origin, current.privateKey, newKey, chain, installed, index, checkpoint);
}

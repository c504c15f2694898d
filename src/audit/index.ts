/** The tamper-evident audit trail: its public face. */
export {
  MerkleTree,
  emptyRoot,
  hashChildren,
  hashLeaf,
  rootFromInclusionProof,
  rootOfLeaves,
  verifyConsistency,
  verifyInclusion,
} from './merkle.ts';
export {
  ed25519KeyId,
  ed25519NoteSigner,
  ed25519NoteVerifier,
  ed25519VerifierKeyString,
  formatCheckpoint,
  openCheckpoint,
  openNote,
  parseCheckpoint,
  parseNote,
  signCheckpoint,
  signNote,
} from './checkpoint.ts';
export type { Checkpoint, NoteSignature, NoteSigner, NoteVerifier, OpenedNote } from './checkpoint.ts';
export {
  AUDIT_KINDS,
  canonicalJson,
  computeEntryHash,
  entryLeafData,
  hashIdentifier,
  isAuditKind,
} from './entry.ts';
export type { AuditEntry, AuditKind, JsonObject, JsonValue } from './entry.ts';
export {
  APPLIANCE_KEY_CHAIN_FILE,
  APPLIANCE_KEY_FILE,
  APPLIANCE_PUBLIC_KEY_FILE,
  RETIRED_KEYS_DIR,
  applianceNoteSigner,
  applianceOrigin,
  appliancePublicKeyFingerprint,
  applianceVerifierKey,
  loadApplianceKey,
  loadOrCreateApplianceKey,
  parseAppliancePublicKey,
  readApplianceKeyChain,
  readAppliancePublicKey,
} from './appliance-key.ts';
export type { ApplianceKey, ApplianceKeyRecord } from './appliance-key.ts';
export { KEY_ROTATION_TARGET, keyRotationPayload, parseKeyRotation } from './key-chain.ts';
export type { AnnouncedKey, KeyRotation } from './key-chain.ts';
export { rotateApplianceKey } from './key-rotation.ts';
export type { KeyRotationResult, RotateApplianceKeyOptions } from './key-rotation.ts';
export {
  AUDIT_SCHEMA_VERSION,
  CALLER_TIME_KEY,
  appendAuditEntry,
  openAuditStore,
  readLatestCheckpoint,
} from './store.ts';
export type {
  AppendInput,
  AppendResult,
  AuditStore,
  AuditStoreOptions,
  EntryWithProof,
  InclusionProof,
  ListQuery,
  ListResult,
  StoredCheckpoint,
} from './store.ts';
export { verifyAuditDatabase } from './verify.ts';
export type {
  AuditProblem,
  AuditProblemCode,
  AuditVerification,
  KeyInForce,
  VerifyOptions,
} from './verify.ts';

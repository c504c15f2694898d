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
  APPLIANCE_KEY_FILE,
  APPLIANCE_PUBLIC_KEY_FILE,
  applianceNoteSigner,
  applianceVerifierKey,
  loadOrCreateApplianceKey,
  parseAppliancePublicKey,
  readAppliancePublicKey,
} from './appliance-key.ts';
export type { ApplianceKey } from './appliance-key.ts';
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
export type { AuditProblem, AuditProblemCode, AuditVerification, VerifyOptions } from './verify.ts';

/** Sigstore trust roots: parse and validate, build trust material, create from PEM files, load from disk. */
export type { TrustRoot } from './trusted-root.ts';
export {
  TRUSTED_ROOT_MEDIA_TYPE,
  TRUSTED_ROOT_MEDIA_TYPE_V02,
  canonicalJson,
  parseTrustedRoot,
  toTrustMaterial,
} from './trusted-root.ts';
export type { CreateTrustedRootInput } from './create.ts';
export { createTrustedRoot } from './create.ts';
export { loadTrustRootDir, loadTrustRootFile, parseTrustedRootText } from './load.ts';
export type { TufImportOptions, TufImportResult } from './tuf-import.ts';
export {
  DirectoryFetcher,
  TRUSTED_ROOT_TARGET,
  defaultTufCacheDir,
  importTrustedRootFromTuf,
} from './tuf-import.ts';

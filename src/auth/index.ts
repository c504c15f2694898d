/** Callers and roles: API tokens (pure) and their table (SQLite edge). */
export type { Access, NewToken, ParsedToken, Role } from './token.ts';
export {
  ROLES,
  TOKEN_NAME,
  generateToken,
  hashSecret,
  isRole,
  parseToken,
  presentedTokenId,
  roleAllows,
  secretMatches,
} from './token.ts';
export type {
  Authentication,
  RefusalReason,
  TokenRecord,
  TokenStore,
  TokenStoreOptions,
} from './token-store.ts';
export { checkTokenName, openTokenStore } from './token-store.ts';

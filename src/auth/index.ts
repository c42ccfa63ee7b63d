export { FULL_ACCESS, describeBadRegex, escapeRegex, regexAccess, RegexError, type PermissionRegexes, type TopicPermissionRegexes, type VhostAccess } from './access.js';
export {
  Authenticator,
  CLOSE_ACCESS_REFUSED,
  configUser,
  CLOSE_VHOST_REFUSED,
  DEFAULT_VHOST,
  isLoopback,
  type AuthenticatorOptions,
  type Credential,
  type IdentifyOutcome,
  type Identity,
  type LoginOutcome,
  type LoginRequest,
  type Principal,
  type User,
  type UserSource,
} from './authenticator.js';
export { AccountBook, AccountError, type AccountPermission, type AccountsSnapshot, type AccountTopicPermission, type AccountUser } from './account-book.js';
export { GuardedVhost } from './guarded-vhost.js';
export { ARGON2_AVAILABLE, DEFAULT_HASHING_ALGORITHM, describeBadHash, HASHING_ALGORITHMS, hashPassword, rabbitPasswordHash, verifyPassword, type HashingAlgorithm, type SlowAlgorithm } from './passwords.js';
export { TokenError, TokenVerifier, type JwtConfig, type VerifiedToken } from './tokens.js';

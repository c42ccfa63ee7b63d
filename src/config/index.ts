export type {
  AuthConfig,
  BindingDefinition,
  BrokerConfig,
  ClusterConfig,
  DefinitionUser,
  Definitions,
  ExchangeDefinition,
  FlowConfig,
  LimitsConfig,
  LogFormat,
  LogLevel,
  PermissionDefinition,
  QueueDefinition,
  ServerConfig,
  StorageConfig,
  TopicPermissionDefinition,
  UserConfig,
} from './types.js';
export { LOG_FORMATS, LOG_LEVELS } from './types.js';
export { ConfigError, loadConfig, parseDefinitions } from './load.js';
export type { ConfigOverrides, LoadConfigOptions, LoadedConfig, ParseDefinitionsOptions } from './load.js';
export { accountsDocument } from './definitions.js';
export { hideRedisPassword } from './schema.js';
export { applyDefinitions, DefinitionsError, type DefinitionsTarget } from './apply.js';

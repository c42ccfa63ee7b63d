export type {
  AuthConfig,
  BindingDefinition,
  BrokerConfig,
  DefinitionUser,
  Definitions,
  ExchangeDefinition,
  FlowConfig,
  LimitsConfig,
  LogLevel,
  PermissionDefinition,
  QueueDefinition,
  ServerConfig,
  StorageConfig,
  TopicPermissionDefinition,
  UserConfig,
} from './types.js';
export { LOG_LEVELS } from './types.js';
export { ConfigError, loadConfig } from './load.js';
export type { ConfigOverrides, LoadConfigOptions, LoadedConfig } from './load.js';

export type {
  BindingDefinition,
  BrokerConfig,
  Definitions,
  ExchangeDefinition,
  FlowConfig,
  LimitsConfig,
  LogLevel,
  QueueDefinition,
  ServerConfig,
  StorageConfig,
  UserConfig,
} from './types.js';
export { LOG_LEVELS } from './types.js';
export { ConfigError, loadConfig } from './load.js';
export type { ConfigOverrides, LoadConfigOptions, LoadedConfig } from './load.js';

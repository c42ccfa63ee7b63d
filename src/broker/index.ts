export { Broker, newQueueName, PERSISTED, REJECTED, ROUTED, type BrokerLimits, type BrokerNotice, type QueueDeclareResult } from './broker.js';
export { Connection, type DeliverySink, type GetResult } from './connection.js';
export { type DeathReason, type DeathRecord } from './dead-letter.js';
export { type QueueEntry } from './entry-deque.js';
export { BrokerError, type ErrorCode } from './errors.js';
export { type Binding, type Destination, type Exchange } from './exchange.js';
export { type Consumer, type MessageCounters, type Queue, type VhostTotals } from './queue.js';
export { RelayQueue } from './relay-queue.js';
export { checkPolicy, IGNORED_POLICY_KEYS, POLICY_APPLY_TO, type Policy, type PolicyApplyTo, type PolicyDefinition } from './policy.js';
export { parseQueueArguments as checkQueueArguments, MAX_DELAY_MS, QUORUM_DELIVERY_LIMIT, type QueueType } from './queue-arguments.js';
export { bindingKey, type IoCounts, type Lease, type MessageStore, type RecoveredState, type SharedEntry, type SharedQueue, type SharedQueueReceiver, type StoredBinding, type StoredPolicy, type StoredExchange, type StoredMessage, type StoredQueue, type StoredRelayBinding, type VhostStores } from './store-port.js';
export { FieldsJson, headersJson, propertiesJson } from './json-equal.js';
export { topicWords, TopicTrie } from './topic-trie.js';
export {
  EXCHANGE_TYPES,
  systemClock,
  type Clock,
  type ConsumeOptions,
  type ExchangeOptions,
  type ExchangeType,
  type Headers,
  type Message,
  type MessageProperties,
  type QueueOptions,
  type TimerHandle,
} from './types.js';
export { DEFAULT_VHOST, VirtualHosts, type VhostNotice } from './vhosts.js';
export { type StreamEntry, type StreamLog, type StreamLogOptions } from './stream-port.js';
export { DEFAULT_FETCH, MAX_FETCH, parseOffsetSpec, StreamQueue, type FetchedEntry, type GroupState, type StreamOffsetSpec } from './stream-queue.js';

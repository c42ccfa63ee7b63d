import { preconditionFailed } from './errors.js';
import { limitArguments, type PolicyQueueArguments, type QueueType } from './queue-arguments.js';

/** What a policy applies to, as RabbitMQ names it. */
export const POLICY_APPLY_TO = ['all', 'queues', 'exchanges', 'classic_queues', 'quorum_queues'] as const;
export type PolicyApplyTo = (typeof POLICY_APPLY_TO)[number];

/** A policy as it is set, stored and exported (RabbitMQ's fields). */
export interface PolicyDefinition {
  name: string;
  pattern: string;
  applyTo: PolicyApplyTo;
  priority: number;
  definition: Record<string, unknown>;
}

/** The keys a policy may set on queues, each the queue argument `x-<key>`. */
const QUEUE_KEYS = ['message-ttl', 'expires', 'max-length', 'max-length-bytes', 'overflow', 'dead-letter-exchange', 'dead-letter-routing-key', 'delivery-limit'];
const EXCHANGE_KEYS = ['alternate-exchange'];

/**
 * Keys of RabbitMQ exports that Warren accepts and ignores: classic mirroring (replication comes
 * with clustering) and storage tuning, which mean nothing for Warren's queues.
 */
export const IGNORED_POLICY_KEYS: readonly string[] = [
  'ha-mode',
  'ha-params',
  'ha-sync-mode',
  'ha-sync-batch-size',
  'ha-promote-on-shutdown',
  'ha-promote-on-failure',
  'queue-mode',
  'queue-version',
  'queue-master-locator',
  'queue-leader-locator',
  'max-in-memory-length',
  'max-in-memory-bytes',
];

/** A validated policy, with its pattern compiled and its keys parsed as the queue arguments they stand for. */
export class Policy {
  readonly queueArguments: PolicyQueueArguments | undefined;
  readonly alternateExchange: string | undefined;
  private readonly regex: RegExp;

  /** Throws PRECONDITION_FAILED, naming the policy and the field, when something is invalid. */
  constructor(readonly definition: Readonly<PolicyDefinition>) {
    const { name, pattern, applyTo, priority, definition: keys } = definition;
    const refuse = (why: string) => preconditionFailed(`policy "${name}": ${why}`);
    if (typeof pattern !== 'string') throw refuse('pattern must be a string (a regular expression)');
    try {
      this.regex = new RegExp(pattern);
    } catch (error) {
      throw refuse(`pattern ${JSON.stringify(pattern)} is not a valid regular expression (${(error as Error).message})`);
    }
    if (!(POLICY_APPLY_TO as readonly unknown[]).includes(applyTo)) {
      const why = (applyTo as unknown) === 'streams' ? 'policies do not apply to stream queues yet (set x-max-age and x-max-length-bytes as arguments)' : `use one of ${POLICY_APPLY_TO.join(', ')}`;
      throw refuse(`apply-to ${JSON.stringify(applyTo)} is not accepted: ${why}`);
    }
    if (!Number.isInteger(priority)) throw refuse(`priority must be an integer (got ${JSON.stringify(priority)})`);
    if (keys === null || typeof keys !== 'object' || Array.isArray(keys)) throw refuse('definition must be an object of policy keys');
    const names = Object.keys(keys);
    if (names.length === 0) throw refuse('definition is empty: give at least one key (for example "max-length")');
    const unknown = names.filter((key) => !QUEUE_KEYS.includes(key) && !EXCHANGE_KEYS.includes(key) && !IGNORED_POLICY_KEYS.includes(key));
    if (unknown.length > 0) throw refuse(`${unknown.map((key) => JSON.stringify(key)).join(', ')} ${unknown.length === 1 ? 'is not a policy key' : 'are not policy keys'} Warren knows; it applies ${[...QUEUE_KEYS, ...EXCHANGE_KEYS].join(', ')}`);
    const queueKeys = names.filter((key) => QUEUE_KEYS.includes(key));
    if (queueKeys.length > 0) {
      const asArguments = Object.fromEntries(queueKeys.map((key) => [`x-${key}`, keys[key]]));
      this.queueArguments = limitArguments(asArguments, (argument) => `policy "${name}": ${argument.slice(2)}`);
    }
    const alternate = keys['alternate-exchange'];
    if (alternate !== undefined && typeof alternate !== 'string') throw refuse(`alternate-exchange must be a string (got ${JSON.stringify(alternate)})`);
    this.alternateExchange = alternate;
  }

  get name(): string {
    return this.definition.name;
  }

  appliesToQueue(name: string, type: QueueType): boolean {
    // A stream works by its own arguments (retention); none of the policy keys fits it yet.
    if (type === 'stream') return false;
    const applyTo = this.definition.applyTo;
    const kind = applyTo === 'all' || applyTo === 'queues' || applyTo === `${type}_queues`;
    return kind && this.regex.test(name);
  }

  appliesToExchange(name: string): boolean {
    const applyTo = this.definition.applyTo;
    return (applyTo === 'all' || applyTo === 'exchanges') && this.regex.test(name);
  }
}

/** Throws what setting the policy would throw (PRECONDITION_FAILED naming the policy and the field), changing nothing. */
export function checkPolicy(definition: PolicyDefinition): void {
  new Policy(definition);
}

/** The policy that applies: of those that match, the highest priority; between equal ones, the first by name (RabbitMQ leaves that order unspecified). */
export function winningPolicy(policies: Iterable<Policy>, matches: (policy: Policy) => boolean): Policy | undefined {
  let best: Policy | undefined;
  for (const policy of policies) {
    if (!matches(policy)) continue;
    const better = !best || policy.definition.priority > best.definition.priority || (policy.definition.priority === best.definition.priority && policy.name < best.name);
    if (better) best = policy;
  }
  return best;
}

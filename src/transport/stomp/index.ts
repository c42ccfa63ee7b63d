export { StompSession } from './stomp-session.js';
export { errorFrame as stompErrorFrame } from './frame.js';

/** WebSocket subprotocols that select STOMP (docs/stomp.md), as RabbitMQ Web-STOMP and stomp.js name them. */
export const STOMP_PROTOCOLS: ReadonlySet<string> = new Set(['v12.stomp', 'v11.stomp', 'v10.stomp']);

export { Transport, type TransportOptions } from './server.js';
export type { SessionContext } from './socket-session.js';
export { watchAlarms } from './alarms.js';

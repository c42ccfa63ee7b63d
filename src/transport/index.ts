export { Transport, type TransportOptions } from './server.js';
export { Session, CLOSE_CONNECTION_FORCED, type ConnectionDetails, type Endpoints, type SessionContext } from './session.js';
export type { CodecSession, WireCodec, WireProtocol } from './codec.js';
export { JSON_PROTOCOL } from './json-codec.js';
export { stompProtocol } from './stomp/index.js';
export { OPEN, type ServerSocket } from './server-socket.js';
export { LOOPBACK_ORIGINS, originPolicy } from './origins.js';
export { watchAlarms } from './alarms.js';

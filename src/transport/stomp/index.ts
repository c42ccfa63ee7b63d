export { stompProtocol } from './stomp-codec.js';

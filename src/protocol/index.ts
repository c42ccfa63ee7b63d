export {
  blockedFrame,
  cancelledFrame,
  deliverFrame,
  deliverPrefix,
  UNBLOCKED_FRAME,
  errorFrame,
  fetchOkFrame,
  getOkFrame,
  messageBody,
  NO_FIELDS,
  okFrame,
  publishedMessage,
  returnFrame,
} from './frames.js';
export { describeSchemaError, validatorFor, type Op } from './schemas.js';
export type * from './requests.js';
export type * from './replies.js';
// The broker's types that frames carry, so that a client finds every wire type here.
export type { ErrorCode, ExchangeType, Headers, MessageProperties } from '../broker/index.js';
export { rawPayloads } from './raw-payloads.js';

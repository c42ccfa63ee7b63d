export {
  blockedFrame,
  cancelledFrame,
  deliverFrame,
  UNBLOCKED_FRAME,
  errorFrame,
  getOkFrame,
  messageBody,
  NO_FIELDS,
  okFrame,
  publishedMessage,
  returnFrame,
} from './frames.js';
export { describeSchemaError, validatorFor, type Op } from './schemas.js';
export type * from './requests.js';
export { rawPayloads } from './raw-payloads.js';

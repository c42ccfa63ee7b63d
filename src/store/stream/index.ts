export { FileStreamLog, type FileStreamLogContext, type NewStreamContext } from './file-stream-log.js';
export { MemoryStreamLog } from './memory-stream-log.js';
export { DEFAULT_COMMIT_INTERVAL_MS, DEFAULT_SEGMENT_BYTES, type StreamEntry, type StreamLog, type StreamLogOptions } from './stream-log.js';

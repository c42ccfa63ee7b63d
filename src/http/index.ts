export { API_PREFIX, openManagementApi, type ManagementApi, type ManagementOptions } from './api.js';
export type { OtherNodes } from './context.js';
export type { ConnectionView } from './views.js';

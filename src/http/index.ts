export { API_PREFIX, openManagementApi, type ManagementApi, type ManagementOptions } from './api.js';
export type { Accounts } from './definitions.js';

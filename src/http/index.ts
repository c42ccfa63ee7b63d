export { API_PREFIX, openManagementApi, type ManagementApi, type ManagementOptions } from './api.js';

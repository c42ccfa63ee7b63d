export { API_PREFIX, openManagementApi, type ManagementApi, type ManagementOptions } from './api.js';
export type { OtherNodes } from './context.js';
export { silentNode, type NodeState } from './cluster-view.js';

export interface FailoverResult {
  switchedToPort: number | null;
  sentinelMs: number;
  windowMs: number | null;
  confirmed: number;
  failed: number;
  failure?: string;
  lost: number;
  lostAfterSwitch: number;
  duplicates: number;
}
export function failover(options?: { beforeMs?: number; afterMs?: number; inFlight?: number; log?: (text: string) => void }): Promise<FailoverResult>;

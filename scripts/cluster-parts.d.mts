import type { ChildProcess } from 'node:child_process';

export const NGINX: string;
export function freePort(): Promise<number>;

export interface RunningRedis {
  port: number;
  url: string;
  process: ChildProcess;
  dir: string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}
export function startRedis(args?: string[]): Promise<RunningRedis>;

export interface RunningNginx {
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}
export function startNginx(ports: number[]): Promise<RunningNginx>;

export interface RunningSentinelRedis {
  url: string;
  primary: RunningRedis;
  replica: RunningRedis;
  switched(): Promise<number>;
  stop(): Promise<void>;
}
export function startSentinelRedis(): Promise<RunningSentinelRedis>;

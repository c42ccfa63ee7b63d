// Starting a worker thread (worker.mjs) in one role and calling its commands.
import { Worker } from 'node:worker_threads';

export function startWorker(data) {
  const worker = new Worker(new URL('./worker.mjs', import.meta.url), { workerData: data });
  const calls = new Map();
  let nextId = 1;
  let failure;
  const failAll = (error) => {
    failure = error;
    for (const { reject } of calls.values()) reject(error);
    calls.clear();
  };
  const ready = new Promise((resolve, reject) => {
    worker.on('message', (message) => {
      if (message.ready) return resolve();
      const call = calls.get(message.id);
      if (!call) return;
      calls.delete(message.id);
      if (message.error) call.reject(new Error(`${data.role} worker: ${message.error}`));
      else call.resolve(message);
    });
    worker.on('error', (error) => {
      const wrapped = new Error(`${data.role} worker failed: ${error.stack ?? error}`);
      reject(wrapped);
      failAll(wrapped);
    });
    worker.on('exit', (code) => {
      const error = new Error(`${data.role} worker exited (code ${code})`);
      reject(error);
      failAll(error);
    });
  });
  return {
    ready,
    call(cmd, args = {}) {
      if (failure) return Promise.reject(failure);
      const id = nextId++;
      return new Promise((resolve, reject) => {
        calls.set(id, { resolve, reject });
        worker.postMessage({ id, cmd, ...args });
      });
    },
    terminate: () => worker.terminate(),
  };
}

import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Message } from '../../src/broker/index.js';
import { FileStreamLog, MemoryStreamLog, type StreamEntry, type StreamLog, type StreamLogOptions } from '../../src/store/stream/index.js';

// Random sequences of appends, reads, retention, commits, flushes, restarts and (for the file log)
// kill -9s, checked against a model that is just an array of every entry ever appended: offsets
// are never reused except for entries a crash lost before they were flushed.

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'warren-stream-prop-'));
  dirs.push(dir);
  return join(dir, 'stream');
};

type Op =
  | { op: 'append'; count: number; size: number; dt: number }
  | { op: 'read'; pick: number; maxCount: number; maxBytes: number }
  | { op: 'atTime'; pick: number }
  | { op: 'retention'; dt: number }
  | { op: 'commit'; group: number; pick: number }
  | { op: 'flush' }
  | { op: 'reopen' }
  | { op: 'crash' };

const GROUPS = ['a', 'b', 'c'];

const op = (withCrash: boolean): fc.Arbitrary<Op> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.record({ op: fc.constant('append' as const), count: fc.integer({ min: 1, max: 6 }), size: fc.constantFrom(0, 5, 40, 200), dt: fc.integer({ min: -30, max: 25 }) }) },
    { weight: 5, arbitrary: fc.record({ op: fc.constant('read' as const), pick: fc.integer({ min: -5, max: 400 }), maxCount: fc.integer({ min: 0, max: 30 }), maxBytes: fc.constantFrom(0, 50, 300, Infinity) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('atTime' as const), pick: fc.integer({ min: -50, max: 3000 }) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('retention' as const), dt: fc.integer({ min: 0, max: 300 }) }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('commit' as const), group: fc.nat(GROUPS.length - 1), pick: fc.nat() }) },
    { weight: 2, arbitrary: fc.constant({ op: 'flush' as const }) },
    { weight: 1, arbitrary: fc.constant({ op: 'reopen' as const }) },
    { weight: withCrash ? 1 : 0, arbitrary: fc.constant({ op: 'crash' as const }) },
  );

const retention = fc.record({
  segmentBytes: fc.constantFrom(150, 400, 1500),
  maxBytes: fc.constantFrom(Infinity, 900, 4000),
  maxAgeMs: fc.constantFrom(Infinity, 60, 400),
});

const message = (id: number, size: number): Message => {
  const text = JSON.stringify({ id, pad: 'é'.repeat(size % 7) + 'x'.repeat(size) });
  return { exchange: 'x', routingKey: `k${id % 3}`, payload: text, size: Buffer.byteLength(text), headers: id % 4 === 0 ? { h: id } : {}, properties: {} };
};

/** Every entry ever appended and not lost, by offset; the clock; each group's commits in order. */
class Model {
  readonly entries: { timestamp: number; message: Message }[] = [];
  now = 1000;
  lastTimestamp = -Infinity;
  /** Offsets below this are flushed: no crash may lose them. */
  durable = 0;
  readonly commits = new Map<string, number[]>();

  append(message: Message, dt: number): number {
    this.now += dt;
    this.lastTimestamp = Math.max(this.lastTimestamp, this.now);
    this.entries.push({ timestamp: this.lastTimestamp, message });
    return this.entries.length - 1;
  }

  /** The entries a read must return, given the log's `first`. */
  read(first: number, offset: number, maxCount: number, maxBytes: number): StreamEntry[] {
    const out: StreamEntry[] = [];
    let bytes = 0;
    for (let at = Math.max(offset, first); at < this.entries.length && out.length < maxCount && (bytes < maxBytes || out.length === 0); at++) {
      out.push({ offset: at, ...this.entries[at] });
      bytes += this.entries[at].message.size;
    }
    return out;
  }

  atTime(first: number, ms: number): number {
    for (let at = first; at < this.entries.length; at++) if (this.entries[at].timestamp >= ms) return at;
    return this.entries.length;
  }
}

interface Subject {
  log: StreamLog;
  reopen(): Promise<void>;
}

/** Runs `ops` on the subjects and checks each against the model after every step. */
async function run(ops: Op[], options: StreamLogOptions, subjects: Subject[], crashable: { dir: string; options: StreamLogOptions } | null): Promise<void> {
  const model = new Model();
  let id = 0;
  let lastFirst = 0;
  for (const step of ops) {
    const [main] = subjects;
    switch (step.op) {
      case 'append':
        for (let i = 0; i < step.count; i++) {
          const m = message(id++, step.size);
          const offset = model.append(m, i === 0 ? step.dt : 1);
          for (const subject of subjects) expect(subject.log.append(m, model.now)).toBe(offset);
        }
        break;
      case 'read': {
        const expected = model.read(main.log.first, step.pick, step.maxCount, step.maxBytes);
        for (const subject of subjects) expect(subject.log.read(step.pick, step.maxCount, step.maxBytes)).toEqual(expected);
        break;
      }
      case 'atTime':
        for (const subject of subjects) expect(subject.log.offsetAtTimestamp(step.pick)).toBe(model.atTime(main.log.first, step.pick));
        break;
      case 'retention':
        model.now += step.dt;
        for (const subject of subjects) subject.log.applyRetention(model.now);
        break;
      case 'commit': {
        if (model.entries.length === 0) break;
        const offset = step.pick % model.entries.length;
        const group = GROUPS[step.group];
        for (const subject of subjects) subject.log.commit(group, offset);
        model.commits.set(group, [...(model.commits.get(group) ?? []), offset]);
        break;
      }
      case 'flush':
        for (const subject of subjects) await subject.log.flushed();
        model.durable = model.entries.length;
        break;
      case 'reopen':
        for (const subject of subjects) await subject.reopen();
        // A clean close keeps every commit.
        for (const subject of subjects) for (const [group, history] of model.commits) expect(subject.log.committed(group)).toBe(history.at(-1));
        break;
      case 'crash': {
        if (!crashable) break;
        // kill -9 now: the files as they are this moment, before the batches of this turn are written.
        const copy = tempDir();
        cpSync(crashable.dir, copy, { recursive: true });
        await main.log.close();
        crashable.dir = copy;
        main.log = await FileStreamLog.open(copy, crashable.options);
        const next = main.log.next;
        expect(next).toBeGreaterThanOrEqual(model.durable);
        expect(next).toBeLessThanOrEqual(model.entries.length);
        model.entries.length = next;
        model.durable = next;
        // The clock the log goes on from is the newest entry it kept.
        model.lastTimestamp = next > main.log.first ? model.entries[next - 1].timestamp : -Infinity;
        // Dropped segments whose files were not deleted yet may come back: first may go down, never below what was kept.
        lastFirst = Math.min(lastFirst, main.log.first);
        for (const [group, history] of model.commits) {
          const committed = main.log.committed(group);
          // Older than the last commit or the last itself, never newer, and always an entry that survived.
          if (committed !== null) {
            expect(history).toContain(committed);
            expect(committed).toBeLessThan(next);
          }
          if (committed === null || history.lastIndexOf(committed) !== history.length - 1) {
            // Commits after the one recovered are lost; what the model remembers is what the disk has.
            const keep = committed === null ? 0 : history.lastIndexOf(committed) + 1;
            history.length = keep;
            if (keep === 0) model.commits.delete(group);
          }
        }
        break;
      }
    }
    for (const subject of subjects) {
      expect(subject.log.next).toBe(model.entries.length);
      for (const [group, history] of model.commits) expect(subject.log.committed(group)).toBe(history.at(-1));
    }
    const first = main.log.first;
    expect(first).toBeGreaterThanOrEqual(lastFirst);
    expect(first).toBeLessThanOrEqual(model.entries.length);
    lastFirst = first;
    // Both logs roll and drop alike: the same first offset and the same bytes.
    for (const subject of subjects.slice(1)) expect([subject.log.first, subject.log.bytes]).toEqual([first, main.log.bytes]);
    if (options.maxBytes !== undefined && Number.isFinite(options.maxBytes) && step.op === 'retention') {
      // Over the limit only by the active segment.
      expect(main.log.bytes).toBeLessThanOrEqual(options.maxBytes + (options.segmentBytes as number) + 1000);
    }
  }
  // Everything, once more, after a last clean restart.
  for (const subject of subjects) await subject.reopen();
  const first = subjects[0].log.first;
  for (const subject of subjects) expect(subject.log.read(0, Infinity, Infinity)).toEqual(model.read(first, 0, Infinity, Infinity));
  for (const subject of subjects) await subject.log.close();
}

describe('stream log - property', () => {
  it('stream log - the file log and the memory log agree with a simple model through appends, reads, retention, commits and restarts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op(false), { minLength: 1, maxLength: 70 }), retention, async (ops, limits) => {
        const options: StreamLogOptions = { ...limits, sync: 'none', commitIntervalMs: 5 };
        const dir = tempDir();
        const file: Subject = {
          log: await FileStreamLog.open(dir, options),
          async reopen() {
            await this.log.close();
            this.log = await FileStreamLog.open(dir, options);
          },
        };
        const memory: Subject = {
          log: MemoryStreamLog.create(options),
          async reopen() {
            await this.log.close();
            this.log = MemoryStreamLog.reopen(this.log as MemoryStreamLog, options);
          },
        };
        await run(ops, options, [file, memory], null);
      }),
      { numRuns: 60 },
    );
  });

  it('stream log - after a kill -9 at any point the file log keeps every flushed entry at its offset, and commits are never newer than made', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op(true), { minLength: 1, maxLength: 60 }), retention, async (ops, limits) => {
        const options: StreamLogOptions = { ...limits, sync: 'none', commitIntervalMs: 0 };
        const crashable = { dir: tempDir(), options };
        const file: Subject = {
          log: await FileStreamLog.open(crashable.dir, options),
          async reopen() {
            await this.log.close();
            this.log = await FileStreamLog.open(crashable.dir, options);
          },
        };
        await run(ops, options, [file], crashable);
      }),
      { numRuns: 60 },
    );
  });
});

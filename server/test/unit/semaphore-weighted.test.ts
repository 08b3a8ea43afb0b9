import { expect } from 'chai';
import { Semaphore } from '../../lib/semaphore.js';

/** A promise with its resolve function, to finish tasks exactly when a test says so. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Sums the weight of the tasks running at once and records the order they started in. */
class WeightProbe {
  running = 0;
  max = 0;
  readonly started: string[] = [];

  task(name: string, weight: number, body: () => Promise<void>): () => Promise<void> {
    return async () => {
      this.running += weight;
      this.max = Math.max(this.max, this.running);
      this.started.push(name);
      try {
        await body();
      } finally {
        this.running -= weight;
      }
    };
  }
}

describe('Semaphore with weights (the pixels of originals being encoded)', () => {
  it('runs tasks side by side while their weights fit, and never more than the limit at once', async () => {
    const sem = new Semaphore(30);
    const probe = new WeightProbe();
    const weights = [12, 12, 25, 12, 25, 25, 8, 12, 20, 12];
    await Promise.all(weights.map((w, i) => sem.run(probe.task(String(i), w, tick), w)));
    expect(probe.max).to.be.at.most(30);
    expect(probe.max, 'two 12s did run together').to.be.at.least(24);
    expect(probe.started).to.deep.equal(weights.map((_, i) => String(i)));
    expect(sem.pending).to.equal(0);
  });

  it('makes a heavy task wait for room, and lets one heavier than the whole limit run alone', async () => {
    const sem = new Semaphore(30);
    const probe = new WeightProbe();
    const first = deferred();
    const held = sem.run(probe.task('12 MP', 12, () => first.promise), 12);
    const heavy = sem.run(probe.task('25 MP', 25, tick), 25);
    const huge = sem.run(probe.task('50 MP', 50, tick), 50);
    await tick();
    expect(probe.started, 'the 25 MP task waits while 12 MP run').to.deep.equal(['12 MP']);
    expect(sem.pending).to.equal(2);
    first.resolve();
    await Promise.all([held, heavy, huge]);
    expect(probe.started).to.deep.equal(['12 MP', '25 MP', '50 MP']);
    expect(probe.max, 'the 50 MP task ran alone, not never').to.equal(50);
  });

  it('does not let a light newcomer overtake a heavy task that is waiting', async () => {
    const sem = new Semaphore(30);
    const probe = new WeightProbe();
    const first = deferred();
    const all = [sem.run(probe.task('A 20', 20, () => first.promise), 20), sem.run(probe.task('B 25', 25, tick), 25), sem.run(probe.task('C 5', 5, tick), 5)];
    await tick();
    expect(probe.started, 'C would fit beside A, but B came first').to.deep.equal(['A 20']);
    first.resolve();
    await Promise.all(all);
    expect(probe.started).to.deep.equal(['A 20', 'B 25', 'C 5']);
  });

  it('gives the weight back when a task fails', async () => {
    const sem = new Semaphore(30);
    const failed = sem.run(async () => {
      await tick();
      throw new Error('encoder failed');
    }, 30);
    const next = sem.run(async () => 'ran', 30);
    await failed.catch(() => undefined);
    expect(await next).to.equal('ran');
    let started = 0;
    const gate = deferred();
    const holdHalf = async () => {
      started += 1;
      await gate.promise;
    };
    const both = [sem.run(holdHalf, 15), sem.run(holdHalf, 15)];
    expect(started, 'the full limit is free again').to.equal(2);
    gate.resolve();
    await Promise.all(both);
  });
});

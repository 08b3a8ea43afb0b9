import { expect } from 'chai';
import { Semaphore } from '../../lib/semaphore.js';

/** A promise with its resolve function, to finish tasks exactly when a test says so. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Counts how many tasks run at once. */
class Probe {
  active = 0;
  max = 0;
  readonly started: string[] = [];

  task<T>(name: string, body: () => Promise<T>): () => Promise<T> {
    return async () => {
      this.active += 1;
      this.max = Math.max(this.max, this.active);
      this.started.push(name);
      try {
        return await body();
      } finally {
        this.active -= 1;
      }
    };
  }
}

describe('Semaphore', () => {
  it('returns what the task returns', async () => {
    expect(await new Semaphore(1).run(async () => 42)).to.equal(42);
  });

  it('starts a task at once while below the limit', () => {
    const sem = new Semaphore(2);
    let started = 0;
    sem.run(async () => void (started += 1));
    sem.run(async () => void (started += 1));
    expect(started).to.equal(2);
    expect(sem.pending).to.equal(0);
  });

  for (const limit of [1, 2, 3, 8]) {
    it(`never runs more than ${limit} at once, and does reach ${limit}`, async () => {
      const sem = new Semaphore(limit);
      const probe = new Probe();
      const task = (i: number) =>
        probe.task(String(i), async () => {
          await sleep(i % 3);
          return i * 2;
        });
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => sem.run(task(i))));
      expect(probe.max).to.equal(limit);
      expect(results).to.deep.equal(Array.from({ length: 40 }, (_, i) => i * 2));
      expect(probe.active).to.equal(0);
      expect(sem.pending).to.equal(0);
    });
  }

  it('counts the tasks that are waiting', async () => {
    const sem = new Semaphore(1);
    const gate = deferred();
    const first = sem.run(() => gate.promise);
    const rest = [sem.run(async () => 1), sem.run(async () => 2), sem.run(async () => 3)];
    expect(sem.pending).to.equal(3);
    gate.resolve();
    await Promise.all([first, ...rest]);
    expect(sem.pending).to.equal(0);
  });

  it('starts waiting tasks in the order they arrived', async () => {
    const sem = new Semaphore(1);
    const probe = new Probe();
    const gate = deferred();
    const all = [sem.run(probe.task('A', () => gate.promise))];
    for (const name of ['B', 'C', 'D', 'E', 'F']) all.push(sem.run(probe.task(name, tick)));
    gate.resolve();
    await Promise.all(all);
    expect(probe.started).to.deep.equal(['A', 'B', 'C', 'D', 'E', 'F']);
  });

  it('does not let a newcomer take a freed slot ahead of a waiter, whenever it arrives', async () => {
    // A caller arriving in the microtasks between a release and the waiter's wake-up must queue like anyone else.
    for (let depth = 0; depth < 8; depth += 1) {
      const sem = new Semaphore(1);
      const probe = new Probe();
      const gate = deferred();
      const first = sem.run(probe.task('A', () => gate.promise));
      const second = sem.run(probe.task('B', tick));
      let later: Promise<unknown> = gate.promise;
      for (let i = 0; i < depth; i += 1) later = later.then(() => undefined);
      const third = later.then(() => sem.run(probe.task('C', tick)));
      gate.resolve();
      await Promise.all([first, second, third]);
      expect(probe.max, `max at once, newcomer after ${depth} microtasks`).to.equal(1);
      expect(probe.started, `order, newcomer after ${depth} microtasks`).to.deep.equal(['A', 'B', 'C']);
    }
  });

  it('passes a rejection through and frees the slot for the next task', async () => {
    const sem = new Semaphore(1);
    const boom = new Error('boom');
    const failed = sem.run(async () => {
      await tick();
      throw boom;
    });
    const next = sem.run(async () => 'ran');
    let caught: unknown;
    await failed.catch((err: unknown) => (caught = err));
    expect(caught).to.equal(boom);
    expect(await next).to.equal('ran');
  });

  it('frees the slot when the task throws before returning a promise', async () => {
    const sem = new Semaphore(1);
    const throwsSynchronously = (): Promise<never> => {
      throw new Error('sync');
    };
    let caught: unknown;
    await sem.run(throwsSynchronously).catch((err: unknown) => (caught = err));
    expect(caught).to.be.instanceOf(Error).with.property('message', 'sync');
    expect(await sem.run(async () => 'after')).to.equal('after');
  });

  it('gets its full capacity back after a burst with failures', async () => {
    const sem = new Semaphore(3);
    const burst = Array.from({ length: 30 }, (_, i) =>
      sem.run(async () => {
        await tick();
        if (i % 2) throw new Error(`task ${i}`);
        return i;
      }),
    );
    const settled = await Promise.allSettled(burst);
    expect(settled.filter((s) => s.status === 'rejected')).to.have.length(15);

    const gates = [deferred(), deferred(), deferred()];
    let started = 0;
    const held = gates.map((g) =>
      sem.run(async () => {
        started += 1;
        await g.promise;
      }),
    );
    expect(started, 'all three slots free again').to.equal(3);
    expect(sem.pending).to.equal(0);
    const fourth = sem.run(async () => 'fourth');
    expect(sem.pending, 'a fourth task waits').to.equal(1);
    for (const g of gates) g.resolve();
    await Promise.all(held);
    expect(await fourth).to.equal('fourth');
  });
});

/**
 * Bounds the work running at once: a task takes `weight` units of `limit` (1 by default, so it counts tasks) and
 * the rest wait in FIFO order. A task heavier than the whole limit runs alone rather than never.
 */
export class Semaphore {
  private used = 0;
  private readonly waiting: Array<{ weight: number; wake: () => void }> = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>, weight = 1): Promise<T> {
    const units = Math.min(Math.max(weight, 0), this.limit);
    // Strictly first come, first served: a light task never overtakes a heavy one that is waiting for room.
    if (this.waiting.length || this.used + units > this.limit) await new Promise<void>((wake) => this.waiting.push({ weight: units, wake }));
    else this.used += units;
    try {
      return await task();
    } finally {
      this.used -= units;
      this.wakeWaiters();
    }
  }

  // Waiters are handed their units before they wake, so a caller arriving between release and wake-up cannot take them.
  private wakeWaiters(): void {
    while (this.waiting.length && this.used + this.waiting[0]!.weight <= this.limit) {
      const next = this.waiting.shift()!;
      this.used += next.weight;
      next.wake();
    }
  }

  get pending(): number {
    return this.waiting.length;
  }
}

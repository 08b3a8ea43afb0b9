/** One day in milliseconds: retention windows and grace periods are counted in whole days. */
export const DAY_MS = 86_400_000;

/**
 * The guest "delete after" choices (GUEST_RETENTION_OPTIONS, GUEST_RETENTION_DEFAULT, GUEST_MAX_RETENTION_DAYS),
 * parsed and checked against the ceiling. config.ts reports the problems as configuration errors.
 */
export type RetentionOption = { key: string; hours: number | null; label: string };

/** "never,1h,7d" into options; a string is the reason it is not valid. */
export function parseRetentionOptions(value: string): RetentionOption[] | string {
  const keys = value.split(',').map((k) => k.trim()).filter(Boolean);
  if (keys.length === 0) return 'must list at least one of never, <n>h, <n>d';
  const options: RetentionOption[] = [];
  for (const key of keys) {
    if (key === 'never') {
      options.push({ key, hours: null, label: 'Never: keep it until I delete it' });
      continue;
    }
    const match = /^(\d{1,4})([hd])$/.exec(key);
    if (!match || Number(match[1]) === 0) return `"${key}" is not never, <n>h or <n>d`;
    const n = Number(match[1]);
    const unit = match[2] === 'h' ? 'hour' : 'day';
    options.push({ key, hours: match[2] === 'h' ? n : n * 24, label: `After ${n} ${unit}${n === 1 ? '' : 's'}` });
  }
  if (new Set(keys).size !== keys.length) return 'lists an option twice';
  return options;
}

const DEFAULT_RETENTION_OPTIONS = 'never,1h,1d,7d,30d';

/**
 * The guest "delete after" choices. Left unset, they are the defaults cut to GUEST_MAX_RETENTION_DAYS (the
 * ceiling itself is then the longest choice and the preselected one); set explicitly, they must respect it.
 * A string is "VARIABLE: what is wrong".
 */
export function guestRetentionOf(env: {
  GUEST_RETENTION_OPTIONS?: string | undefined;
  GUEST_RETENTION_DEFAULT?: string | undefined;
  GUEST_MAX_RETENTION_DAYS: number;
}): { options: RetentionOption[]; defaultKey: string; maxDays: number } | string {
  const maxDays = env.GUEST_MAX_RETENTION_DAYS;
  const fits = (o: RetentionOption) => maxDays === 0 || (o.hours !== null && o.hours <= maxDays * 24);
  let options = parseRetentionOptions(env.GUEST_RETENTION_OPTIONS ?? DEFAULT_RETENTION_OPTIONS);
  if (typeof options === 'string') return `GUEST_RETENTION_OPTIONS: ${options}`;
  if (env.GUEST_RETENTION_OPTIONS) {
    const tooLong = options.filter((o) => !fits(o));
    if (tooLong.length) return `GUEST_RETENTION_OPTIONS: longer than GUEST_MAX_RETENTION_DAYS=${maxDays} allows: ${tooLong.map((o) => o.key).join(', ')}`;
  } else if (maxDays > 0) {
    options = [...options.filter(fits).filter((o) => o.hours !== maxDays * 24), ...(parseRetentionOptions(`${maxDays}d`) as RetentionOption[])];
  }
  const defaultKey = env.GUEST_RETENTION_DEFAULT ?? (options.some((o) => o.key === 'never') ? 'never' : options[options.length - 1]!.key);
  if (!options.some((o) => o.key === defaultKey)) return `GUEST_RETENTION_DEFAULT: must be one of ${options.map((o) => o.key).join(', ')}`;
  return { options, defaultKey, maxDays };
}

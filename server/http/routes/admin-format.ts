/** How the staff pages print a time: minutes, in UTC, or "never". */
export const when = (d: Date | null): string => (d ? `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC` : 'never');

import type { Request } from 'express';

/** A form (or JSON) field as a string; anything else a hostile client sends (arrays, objects) reads as ''. */
export function field(req: Request, name: string): string {
  const value = (req.body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
}

/** A checkbox (or JSON true): ticked or not. */
export function checked(req: Request, name: string): boolean {
  const value = (req.body as Record<string, unknown> | undefined)?.[name];
  return value === true || (typeof value === 'string' && ['yes', 'on', 'true'].includes(value));
}

/** A repeated field (ticked checkboxes, or a JSON array of strings): its string values. */
export function fieldList(req: Request, name: string): string[] {
  const value = (req.body as Record<string, unknown> | undefined)?.[name];
  const list = Array.isArray(value) ? (value as unknown[]) : value === undefined ? [] : [value];
  return list.filter((v): v is string => typeof v === 'string');
}

import type { Request } from 'express';
import type { CounterNoticeInput } from '../services/copyright.service.js';

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

/** The fields of a counter-notice form, from the staff page or the uploader's own. */
export const counterNoticeInput = (req: Request): CounterNoticeInput => ({
  name: field(req, 'name'),
  contact: field(req, 'contact'),
  statement: field(req, 'statement'),
  signature: field(req, 'signature'),
  goodFaith: checked(req, 'good_faith'),
  consent: checked(req, 'consent'),
});

/** A page number from the query string: a whole number from 1 to 10 000, otherwise 1. */
export function pageParam(req: Request, name: string): number {
  const n = Number(req.query[name]);
  return Number.isInteger(n) && n >= 1 && n <= 10_000 ? n : 1;
}

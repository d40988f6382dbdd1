import { ConfigurationError } from '../errors/configuration.error.js';

/** A string or a non-empty list of strings, as a list; every item a non-empty string. */
export function stringList(option: string, value: string | string[]): string[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0 || list.some((item) => typeof item !== 'string' || item.length === 0)) {
    throw new ConfigurationError(
      option,
      'expected a non-empty string or list of non-empty strings',
    );
  }
  return list;
}

/** Absent, or a non-empty string. */
export function optionalString(option: string, value: unknown): void {
  if (value !== undefined && (typeof value !== 'string' || value.length === 0)) {
    throw new ConfigurationError(option, 'expected a non-empty string');
  }
}

/** Absent (then `fallback`), or a boolean. */
export function optionalBoolean(option: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new ConfigurationError(option, 'expected true or false');
  return value;
}

/** The value if it is one of `allowed`, the first of them (the default) if absent. */
export function oneOf<T extends string>(
  option: string,
  value: T | undefined,
  allowed: readonly T[],
): T {
  if (value === undefined) return allowed[0];
  if (!allowed.includes(value)) {
    throw new ConfigurationError(
      option,
      `expected one of ${allowed.map((a) => `'${a}'`).join(', ')}`,
    );
  }
  return value;
}

/** Absent (then `fallback`), or a finite number above 0. */
export function positive(option: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ConfigurationError(option, 'expected a positive number');
  }
  return value;
}

/** Absent (then `fallback`), or an integer above 0. */
export function positiveInteger(
  option: string,
  value: number | undefined,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new ConfigurationError(option, 'expected a positive integer');
  }
  return value;
}

/** Absent (then `fallback`), or a finite number of 0 or more. */
export function nonNegative(option: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ConfigurationError(option, 'expected a number ≥ 0');
  }
  return value;
}

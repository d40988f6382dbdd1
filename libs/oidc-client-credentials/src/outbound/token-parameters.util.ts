import { OidcClientCredentialsError } from '../errors/oidc-client-credentials.error.js';
import { sanitizeForLog } from '../errors/sanitize.util.js';
import type { TokenRequestParameters } from './client-credentials-token.interface.js';

/** Most values one parameter of one call may have. */
export const MAX_PARAMETER_VALUES = 32;
/** Longest value of a parameter of one call, in characters. */
export const MAX_PARAMETER_LENGTH = 2048;

/** RFC 6749 §3.3 scope-token: 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
/** RFC 6749 VSCHAR: what an `audience` value may hold. */
const VSCHAR = /^[\x20-\x7e]+$/;

/** The parameters a call may set; each one set replaces the client's configured one. */
const CALL_PARAMETERS = ['scope', 'audience', 'resource'] as const;

/**
 * The parameters of one `getToken()` call, checked: `undefined` when it sets none (the client's
 * own token), else what it replaces, normalised so that equal sets look equal — scopes split at
 * spaces, without duplicates, sorted; audiences and resources without duplicates, sorted.
 *
 * @throws OidcClientCredentialsError `OIDC_CC_TOKEN_PARAMETERS_INVALID` naming the parameter.
 */
export function callParameters(
  options: TokenRequestParameters | undefined,
): Map<string, string[]> | undefined {
  if (options === undefined) return undefined;
  let given: Map<string, string[]> | undefined;
  for (const name of CALL_PARAMETERS) {
    const value = options[name];
    if (value === undefined) continue;
    given ??= new Map();
    given.set(name, normalised(name, value));
  }
  return given;
}

/**
 * The token request parameters of a call: the client's `configured` ones with those the call
 * sets replaced, in the canonical order (see {@link canonicalParams}).
 */
export function withCallParameters(
  configured: readonly [string, string][],
  call: Map<string, string[]>,
): [string, string][] {
  const kept = configured.filter(([name]) => !call.has(name));
  const added = [...call].flatMap(([name, values]): [string, string][] =>
    name === 'scope' ? [['scope', values.join(' ')]] : values.map((value) => [name, value]),
  );
  return canonicalParams([...added, ...kept]);
}

/**
 * Token request parameters in one order for one meaning: `scope` (its values sorted, no
 * duplicates), then `audience` and `resource` values sorted without duplicates, then the others
 * as they were. Two sets that request the same token have the same canonical form, hence the same
 * cache key.
 */
export function canonicalParams(params: readonly [string, string][]): [string, string][] {
  const valuesOf = (name: string) =>
    unique(params.filter(([key]) => key === name).map(([, value]) => value));
  const result: [string, string][] = [];
  if (params.some(([key]) => key === 'scope')) {
    const scopes = unique(
      valuesOf('scope')
        .flatMap((value) => value.split(' '))
        .filter(Boolean),
    );
    result.push(['scope', scopes.join(' ')]);
  }
  for (const name of ['audience', 'resource']) {
    for (const value of valuesOf(name)) result.push([name, value]);
  }
  for (const entry of params) {
    if (!(CALL_PARAMETERS as readonly string[]).includes(entry[0])) result.push(entry);
  }
  return result;
}

/** A key naming one canonical parameter set. */
export function parameterSetKey(params: readonly [string, string][]): string {
  return JSON.stringify(params);
}

/** The parameter set of a call: its canonical parameters and their {@link parameterSetKey}. */
export interface ParameterSet {
  readonly key: string;
  readonly params: [string, string][];
}

/**
 * The parameter sets of one client's calls, with the last ones remembered by what the call
 * passed: a call that passes what an earlier one did costs a `JSON.stringify` and a map lookup,
 * not a new check and normalisation. Bounded like the sets themselves.
 */
export class ParameterSets {
  private readonly own: string;
  private readonly known: RecentlyUsed<ParameterSet | null>;

  constructor(
    private readonly configured: readonly [string, string][],
    limit: number,
  ) {
    this.own = parameterSetKey(canonicalParams(configured));
    this.known = new RecentlyUsed(limit, () => undefined);
  }

  /**
   * The set a call asks for; `undefined` for the client's own (none set, or set as configured).
   * @throws OidcClientCredentialsError `OIDC_CC_TOKEN_PARAMETERS_INVALID` (see {@link callParameters}).
   */
  of(options: TokenRequestParameters): ParameterSet | undefined {
    const { scope, resource, audience } = options;
    if (scope === undefined && resource === undefined && audience === undefined) return undefined;
    // Only what was checked is remembered, so an exact repeat of it needs no new check.
    const raw = JSON.stringify([scope, resource, audience]);
    const known = this.known.get(raw);
    if (known !== undefined) return known ?? undefined;
    const params = withCallParameters(this.configured, callParameters(options)!);
    const key = parameterSetKey(params);
    const set = key === this.own ? null : { key, params };
    this.known.set(raw, set);
    return set ?? undefined;
  }
}

/**
 * The most recently used entries, at most `limit` of them: setting one more evicts the least
 * recently used, handed to `evicted` (to stop its timers). Reading an entry makes it the most
 * recent.
 */
export class RecentlyUsed<V> {
  private readonly entries = new Map<string, V>();

  constructor(
    private readonly limit: number,
    private readonly evicted: (value: V) => void,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.limit) {
      const [oldest, entry] = this.entries.entries().next().value as [string, V];
      this.entries.delete(oldest);
      this.evicted(entry);
    }
  }

  values(): IterableIterator<V> {
    return this.entries.values();
  }
}

function normalised(name: (typeof CALL_PARAMETERS)[number], value: unknown): string[] {
  const items = typeof value === 'string' ? [value] : value;
  if (
    !Array.isArray(items) ||
    items.length === 0 ||
    items.some((item) => typeof item !== 'string')
  ) {
    throw invalid(name, 'expected a string or a non-empty array of strings');
  }
  const values = (name === 'scope' ? items.flatMap((item: string) => item.split(' ')) : items)
    .filter((item: string) => name !== 'scope' || item !== '')
    .map((item: string) => checked(name, item));
  if (values.length === 0) throw invalid(name, 'expected at least one scope');
  const distinct = unique(values);
  if (distinct.length > MAX_PARAMETER_VALUES) {
    throw invalid(name, `at most ${MAX_PARAMETER_VALUES} values`);
  }
  return distinct;
}

function checked(name: string, value: string): string {
  if (value.length === 0 || value.length > MAX_PARAMETER_LENGTH) {
    throw invalid(name, `each value 1 to ${MAX_PARAMETER_LENGTH} characters`);
  }
  if (name === 'scope') {
    if (!SCOPE_TOKEN.test(value)) {
      throw invalid(name, 'scope tokens of %x21, %x23-5B and %x5D-7E only (RFC 6749 §3.3)');
    }
    return value;
  }
  if (!VSCHAR.test(value)) throw invalid(name, 'characters %x20-7E only');
  if (name === 'resource') {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw invalid(name, `"${sanitizeForLog(value, 100)}" is not an absolute URI (RFC 8707 §2)`);
    }
    if (url.hash !== '' || value.includes('#')) {
      throw invalid(name, `"${sanitizeForLog(value, 100)}" has a fragment (RFC 8707 §2)`);
    }
  }
  return value;
}

function invalid(name: string, expectation: string): OidcClientCredentialsError {
  return new OidcClientCredentialsError(
    'OIDC_CC_TOKEN_PARAMETERS_INVALID',
    `Invalid getToken() parameter "${name}": ${expectation}`,
  );
}

function unique(values: string[]): string[] {
  return [...new Set(values)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

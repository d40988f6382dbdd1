/** `kid`s remembered as missing from the last fetch; the oldest goes first (a flood of random ones). */
const MAX_UNKNOWN_KIDS = 10_000;

/**
 * The `kid`s missing from a JWKS fetch since the last successful one: a token naming one is
 * refused from memory until the next successful fetch, so a flood of random `kid`s costs no
 * fetch beyond one per cooldown.
 */
export class UnknownKids {
  private readonly kids = new Set<string>();

  /**
   * The last fetch already answered for this `kid`: it lacked it (or the token names none, and no
   * key of the known ones fits it).
   */
  knownMissing(kid: string | undefined): boolean {
    return kid === undefined || this.kids.has(kid);
  }

  /** A `kid` missing from a fetch: refused from memory until the next successful fetch. */
  remember(kid: string | undefined): void {
    if (kid === undefined) return;
    if (this.kids.size >= MAX_UNKNOWN_KIDS) {
      const oldest = this.kids.values().next().value;
      if (oldest !== undefined) this.kids.delete(oldest);
    }
    this.kids.add(kid);
  }

  /** Forgets them all (after a successful fetch). */
  clear(): void {
    this.kids.clear();
  }
}

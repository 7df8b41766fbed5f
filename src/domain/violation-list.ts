/**
 * Collects field violations for a google.rpc.BadRequest, keeping the list
 * readable: past a cap only a count is kept, reported as one last entry.
 */

/** One wrong field; `field` is a path in proto field names, e.g. `order.products[0].gtin`. */
export interface Violation {
  field: string;
  description: string;
}

/** At most this many violations are listed before the summary entry. */
export const MAX_VIOLATIONS = 100;

export class ViolationList {
  private readonly items: Violation[] = [];
  private cut = 0;

  constructor(private readonly max: number = MAX_VIOLATIONS) {}

  /** True once the cap is reached: further adds only count. */
  get full(): boolean {
    return this.items.length >= this.max;
  }

  add(field: string, description: string): void {
    if (this.full) this.cut++;
    else this.items.push({ field, description });
  }

  /**
   * Like add, but builds the violation only if it will be listed, so an
   * order with a million bad serials costs a counter, not a million strings.
   */
  addLazy(build: () => Violation): void {
    if (this.full) this.cut++;
    else this.items.push(build());
  }

  toArray(): Violation[] {
    if (this.cut === 0) return [...this.items];
    return [...this.items, { field: "order", description: `${this.cut} more violations not listed` }];
  }
}

/** What the chaos run saw, gathered from the line controllers and every role's store. */
export interface ChaosObservations {
  /** Orders the run placed, by CreateOrder request id, with the codes each asked for. */
  ordered: Map<string, number>;
  /** Per request id, the codes the line controller received (every code, in order). */
  received: Map<string, string[]>;
  /** Per hop, how many orders each request id made there (request id of that hop as stored). */
  ordersPerRequest: { hop: string; counts: Map<string, number> }[];
  /** The serial registry of the Emission server: `<gtin>/<serial>`. */
  registry: Set<string>;
  /** Codes that fail verification with the Emission server's key ring. */
  unverifiable: number;
}

export interface Violation {
  invariant: string;
  detail: string;
}

/** `<gtin>/<serial>` of a code `01<gtin>21<serial><GS>…`. */
export function serialKeyOf(code: string): string {
  const gtin = code.slice(2, 16);
  const serial = code.slice(18).split("\u001d")[0] ?? "";
  return `${gtin}/${serial}`;
}

/** Every invariant of the run, each zero-defect; an empty list is a clean run. */
export function checkChaos(o: ChaosObservations): Violation[] {
  const v: Violation[] = [];
  for (const [requestId, quantity] of o.ordered) {
    const got = o.received.get(requestId)?.length ?? 0;
    if (got !== quantity) v.push({ invariant: "codes received = codes ordered", detail: `${requestId}: ${got} of ${quantity}` });
  }
  for (const { hop, counts } of o.ordersPerRequest) {
    if (counts.size !== o.ordered.size)
      v.push({
        invariant: "one order per request id at every hop",
        detail: `${hop}: ${counts.size} request ids for ${o.ordered.size} orders`,
      });
    for (const [requestId, n] of counts)
      if (n !== 1) v.push({ invariant: "one order per request id at every hop", detail: `${hop}: ${requestId} made ${n} orders` });
  }
  const all = [...o.received.values()].flat();
  const distinct = new Set(all);
  if (distinct.size !== all.length) v.push({ invariant: "no code twice", detail: `${all.length - distinct.size} duplicates` });
  const emitted = new Set(all.map(serialKeyOf));
  if (emitted.size !== distinct.size)
    v.push({ invariant: "no serial twice", detail: `${distinct.size - emitted.size} serials on two codes` });
  const orphaned = [...o.registry].filter((k) => !emitted.has(k)).length;
  const unregistered = [...emitted].filter((k) => !o.registry.has(k)).length;
  if (orphaned > 0)
    v.push({ invariant: "serial registry = serials of emitted codes", detail: `${orphaned} registered serials on no code` });
  if (unregistered > 0)
    v.push({ invariant: "serial registry = serials of emitted codes", detail: `${unregistered} codes whose serial is not registered` });
  if (o.unverifiable > 0) v.push({ invariant: "every code verifies", detail: `${o.unverifiable} codes fail VerifyCode` });
  return v;
}

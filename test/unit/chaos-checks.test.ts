import { describe, expect, it } from "vitest";
import { checkChaos, serialKeyOf, type ChaosObservations } from "../../src/bench/chaos-checks.js";
import { percentile, recoveryTimes } from "../../src/bench/recovery-times.js";

const GS = "\u001d";
const code = (gtin: string, serial: string): string => `01${gtin}21${serial}${GS}91EK01${GS}92tail`;

function clean(): ChaosObservations {
  const a = [code("04600000000015", "AAAAAAAAAAAA1"), code("04600000000015", "AAAAAAAAAAAA2")];
  return {
    ordered: new Map([["r1", 2]]),
    received: new Map([["r1", a]]),
    ordersPerRequest: [{ hop: "OMS orders", counts: new Map([["r1", 1]]) }],
    registry: new Set(a.map(serialKeyOf)),
    unverifiable: 0,
  };
}

describe("checkChaos", () => {
  it("finds nothing wrong in a clean run", () => {
    expect(checkChaos(clean())).toEqual([]);
    expect(serialKeyOf(code("04600000000015", "X1"))).toBe("04600000000015/X1");
  });

  it("reports missing codes, a request id that made two orders, duplicates, orphaned serials and unverifiable codes", () => {
    const o = clean();
    const [first] = o.received.get("r1") ?? [];
    o.received.set("r1", [first ?? "", first ?? ""]);
    o.ordersPerRequest = [{ hop: "Registrar pools", counts: new Map([["r1", 2]]) }];
    o.registry.add("04600000000015/ORPHAN");
    o.unverifiable = 3;
    o.ordered.set("r2", 5);
    const invariants = checkChaos(o).map((v) => v.invariant);
    expect(invariants).toEqual(
      expect.arrayContaining([
        "codes received = codes ordered",
        "one order per request id at every hop",
        "no code twice",
        "serial registry = serials of emitted codes",
        "every code verifies",
      ]),
    );
  });
});

describe("recoveryTimes", () => {
  it("takes, per kill, the longest wait of the activities moving at that moment until they move again", () => {
    const activities = [
      { events: [0, 900, 1_800, 4_000], endedAt: 5_000 }, // moving at 2 000: next at 4 000
      { events: [1_500, 2_600] }, // moving at 2 000: next at 2 600
      { events: [0], endedAt: 100 }, // finished before
      { events: [200, 9_000] }, // idle at 2 000 (last move 1.8 s before): not interrupted
    ];
    expect(recoveryTimes([2_000], activities, 10_000)).toEqual([2_000]);
  });

  it("counts a unary call in flight at the kill until it is answered, however long it had been waiting", () => {
    expect(
      recoveryTimes(
        [5_000],
        [
          { events: [0], endedAt: 7_500, call: true },
          { events: [0], endedAt: 9_000 },
        ],
        10_000,
      ),
    ).toEqual([2_500]);
  });

  it("counts an activity that never moved again up to the end of the run, and ignores kills that hit nothing moving", () => {
    expect(recoveryTimes([1_000, 50_000], [{ events: [500] }], 8_000)).toEqual([7_000]);
  });

  it("reads nearest-rank percentiles", () => {
    const sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect([percentile(sorted, 50), percentile(sorted, 95), percentile(sorted, 100), percentile([], 99)]).toEqual([5, 10, 10, 0]);
  });
});

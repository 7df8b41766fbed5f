import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { meshError, reasonOf, stepOf, withErrorInfo } from "../../src/core/rpc/error-info.js";
import { OrderNotFoundError, RequestInvalidError } from "../../src/domain/domain-errors.js";
import { toConnectError } from "../../src/core/rpc/to-connect-error.js";

describe("withErrorInfo", () => {
  it("gives an error no site named the name of its code as its reason", () => {
    expect(reasonOf(withErrorInfo(new ConnectError("boom", Code.Internal)))).toBe("INTERNAL");
    expect(reasonOf(withErrorInfo(new ConnectError("late", Code.DeadlineExceeded)))).toBe("DEADLINE_EXCEEDED");
  });

  it("keeps the reason and step an error already carries, and adds no second ErrorInfo", () => {
    const e = withErrorInfo(meshError("no token", Code.Unauthenticated, "TOKEN_MISSING", { step: "auth" }));
    expect(reasonOf(e)).toBe("TOKEN_MISSING");
    expect(stepOf(e)).toBe("auth");
    expect(e.details).toHaveLength(1);
  });
});

describe("toConnectError", () => {
  it("names the reason of every domain error", () => {
    expect(reasonOf(toConnectError(new OrderNotFoundError("o-1")))).toBe("ORDER_NOT_FOUND");
    const invalid = toConnectError(new RequestInvalidError("4.2", [{ field: "order", description: "is required" }]));
    expect([reasonOf(invalid), stepOf(invalid)]).toEqual(["REQUEST_INVALID", "4.2"]);
  });
});

import { describe, expect, it } from "vitest";
import { decodeGrpcMessage, encodeGrpcMessage, isGrpcContentType } from "../../src/core/rpc/grpc-wire.js";

describe("encodeGrpcMessage", () => {
  it("keeps printable ASCII as is, spaces and colons included", () => {
    expect(encodeGrpcMessage("the order breaks the rules: order: quantity must be 1-150000 (got 0)")).toBe(
      "the order breaks the rules: order: quantity must be 1-150000 (got 0)",
    );
  });

  it("percent-encodes '%', control characters and non-ASCII as upper-case UTF-8 bytes", () => {
    expect(encodeGrpcMessage("100% done\n")).toBe("100%25 done%0A");
    expect(encodeGrpcMessage("заказ")).toBe("%D0%B7%D0%B0%D0%BA%D0%B0%D0%B7");
    expect(encodeGrpcMessage("~\u007f")).toBe("~%7F");
  });

  it("round-trips through decodeGrpcMessage and decodeURIComponent (connect-es)", () => {
    const message = 'order "заказ-1" not found: 50% of 🚚';
    expect(decodeGrpcMessage(encodeGrpcMessage(message))).toBe(message);
    expect(decodeURIComponent(encodeGrpcMessage(message))).toBe(message);
  });
});

describe("decodeGrpcMessage", () => {
  it("reads connect's encodeURIComponent form", () => {
    expect(decodeGrpcMessage(encodeURIComponent("a: b"))).toBe("a: b");
  });

  it("keeps a malformed escape as text", () => {
    expect(decodeGrpcMessage("50%Z")).toBe("50%Z");
  });
});

describe("isGrpcContentType", () => {
  it("takes gRPC over HTTP/2 only, not gRPC-web or Connect", () => {
    expect(
      ["application/grpc", "application/grpc+proto", "application/grpc+json", "application/grpc;charset=utf-8"].map(isGrpcContentType),
    ).toEqual([true, true, true, true]);
    expect(
      ["application/grpc-web", "application/grpc-web+proto", "application/proto", "application/json", undefined].map(isGrpcContentType),
    ).toEqual([false, false, false, false, false]);
  });
});

import { Code } from "@connectrpc/connect";

/** "INVALID_ARGUMENT" for Code.InvalidArgument: the name gRPC tools print. */
export function grpcCodeName(code: Code): string {
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

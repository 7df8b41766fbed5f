/**
 * How many bytes a server reads of one request message, per method: what the
 * contract lets a legitimate request be, not one global 64 MiB. A request over
 * its method's limit is refused by connect as soon as the 5-byte gRPC envelope
 * header (or a Connect call's content-length) announces it, before the body is
 * read, with RESOURCE_EXHAUSTED; grpc-wire.ts gives that error its ErrorInfo
 * (reason MESSAGE_TOO_LARGE).
 */
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";

/** Every request not listed in ORDER_METHODS: ids, a block number, a reason, a code. */
export const DEFAULT_MESSAGE_BYTES = 64 * 1024;

/**
 * The largest legitimate request of the mesh is an order of 10 SELF_MADE
 * products of 150 000 serials of 20 characters (order.proto). In protobuf
 * binary each serial costs 1 tag byte + 1 length byte + 20 = 22 bytes, so
 * 10 × 150 000 × 22 = 33 000 000 bytes; a product adds about 40 bytes (its
 * tag and 4-byte length, GTIN, quantity, enums, template), the order about
 * 520 (a 128-character production order id in 4-byte UTF-8 at worst) and the
 * request about 70 (its order's tag and length, a 64-character participant
 * id), so the largest CreateEmissionOrder / CreatePool is 33 000 940 bytes
 * (test/unit/message-limits.test.ts encodes it). 32 MiB = 33 554 432 bytes
 * holds it with half a megabyte to spare. JSON (Connect with curl) spells
 * the same order in about 34.5 MB: send orders that large in binary.
 */
export const ORDER_MESSAGE_BYTES = 32 * 1024 * 1024;

/** The methods whose request carries an order (OrderSpec), by "service/Method". */
export const ORDER_METHODS: ReadonlySet<string> = new Set([
  "emission.oms.v1.OmsService/CreateOrder",
  "emission.registrar.v1.RegistrarService/CreatePool",
  "emission.emitter.v1.EmitterService/CreateEmissionOrder",
]);

/** The read limit of a method's request, in bytes. */
export function readLimitOf(method: DescMethod): number {
  return ORDER_METHODS.has(`${method.parent.typeName}/${method.name}`) ? ORDER_MESSAGE_BYTES : DEFAULT_MESSAGE_BYTES;
}

/**
 * A router whose every registration gets its method's read limit, whatever
 * options the role passed: every role registers through it (meshRoutes), so
 * the table above is the only place a limit is set.
 */
export function limitedRouter(router: ConnectRouter): ConnectRouter {
  const limited: ConnectRouter = {
    get handlers() {
      return router.handlers;
    },
    service(service: DescService, implementation: Record<string, unknown>, options) {
      for (const method of service.methods) {
        const impl = implementation[method.localName] ?? unimplementedMethod(method);
        router.rpc(method, impl as never, { ...options, readMaxBytes: readLimitOf(method) });
      }
      return limited;
    },
    rpc(method, impl, options) {
      router.rpc(method, impl, { ...options, readMaxBytes: readLimitOf(method) });
      return limited;
    },
  } as ConnectRouter;
  return limited;
}

/** What connect's router.service registers for a method the implementation leaves out. */
function unimplementedMethod(method: DescMethod): () => never {
  return () => {
    throw new ConnectError(`${method.parent.typeName}/${method.name} is not implemented`, Code.Unimplemented);
  };
}

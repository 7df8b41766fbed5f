/**
 * gRPC plumbing: the wire (Trailers-Only, status encoding), error details and
 * the one mapping of domain errors to codes, request ids, message limits and
 * contract checks, health, reflection and TLS.
 */
export { abortedCallError } from "./aborted-call-error.js";
export { type AfterReply, afterReplyKey, afterReplyOf, afterReplyValues } from "./after-reply.js";
export { contractInterceptor } from "./contract-interceptor.js";
export { errorInfo, hasErrorInfo, meshError, reasonOf, stepOf } from "./error-info.js";
export { errorInterceptor } from "./error-interceptor.js";
export { grpcCodeName } from "./grpc-code-name.js";
export { encodeGrpcMessage, grpcWire, statusDetailsBin } from "./grpc-wire.js";
export { HealthState, registerHealth } from "./health-service.js";
export { DEFAULT_MESSAGE_BYTES, limitedRouter } from "./message-limits.js";
export { registerReflection } from "./reflection-service.js";
export { deriveRequestId, loggableRequestId, newRequestId, REQUEST_ID_HEADER, requestIdInterceptor, requestIdOf } from "./request-id.js";
export { retryHintOf, transientError } from "./retry-hint.js";
export { type ClientTls, clientTlsOptions, isMutual, loadTls, peerCommonName, serverTlsOptions, type TlsMaterial } from "./tls.js";
export { fieldViolationsOf, toConnectError } from "./to-connect-error.js";
export { RETRANSMIT_CODES, TRANSIENT_CODES } from "./transient-codes.js";

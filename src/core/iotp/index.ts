/**
 * Server-role processing (IOTP, RFC 2801 §4.4–4.5) shared by every role:
 * authorisation, request-id deduplication with stored replies, admission
 * control, retransmission, the journal, the outbox to the role below, and the
 * leases and instance liveness that let another instance take work over.
 */
export { type AdmissionGauge, admissionInterceptor } from "./admission-interceptor.js";
export { type AccessPolicy, authInterceptor, type Caller, callerKey, callerOf, parseTokens } from "./auth.js";
export { checkReply } from "./check-reply.js";
export { DownstreamOutbox } from "./downstream-outbox.js";
export { idempotencyInterceptor, requestClaimKey, requestSinceKey } from "./idempotency-interceptor.js";
export { InstanceLiveness } from "./instance-liveness.js";
export { Journal, type JournalLimits, registerJournal } from "./journal.js";
export { requireWellFormedOrder } from "./order-request-check.js";
export { RefusalTally, type RefusalCount, type RefusalKind, refusalInterceptor, refusalKindOf } from "./refusal-tally.js";
export { ReplyStore } from "./reply-store.js";
export { dropOldestBeyond, quotaError, requireQuota, sweepEvery } from "./retention.js";
export { type RetransmitPolicy, retransmittingTransport, retransmitUntil } from "./retransmitting-transport.js";
export { TakeFences } from "./take-fences.js";
export { type LeaseContext, type LeasedDoc, WorkLease } from "./work-lease.js";

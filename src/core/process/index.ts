/**
 * Start-up of a role process: its store, server, interceptor chain and the
 * transport to the role below, and running a module as a program.
 */
export { createDownstreamTransport, downstreamSessions, downstreamUrl, transportBelow } from "./downstream-transport.js";
export { GuardedSessionManager } from "./guarded-session-manager.js";
export { type BuiltRole, type RunningServer, serve } from "./grpc-server.js";
export { openRoleBase, roleSpec } from "./role-base.js";
export {
  type ListeningProcess,
  type RoleProcess,
  SERVER_ROLES,
  type ServerRole,
  startListeningProcess,
  startRoleProcess,
} from "./role-process.js";
export { isMain, runMain } from "./run-main.js";

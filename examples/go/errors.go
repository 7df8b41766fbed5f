package main

import (
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
)

// decodeStatus reads the google.rpc.Status of a failed call (grpc-go decodes
// grpc-status-details-bin into it) and unpacks the details the mesh sends.
func decodeStatus(err error) map[string]any {
	st, ok := status.FromError(err)
	if !ok {
		return map[string]any{"code": "UNKNOWN", "message": err.Error()}
	}
	out := map[string]any{"code": codeName(st.Code().String()), "message": st.Message(), "fieldViolations": []map[string]string{}, "errorInfo": nil}
	violations := []map[string]string{}
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				violations = append(violations, map[string]string{"field": v.GetField(), "description": v.GetDescription()})
			}
		case *errdetails.ErrorInfo:
			out["errorInfo"] = map[string]string{"reason": d.GetReason(), "domain": d.GetDomain(), "step": d.GetMetadata()["step"]}
		case *errdetails.RetryInfo:
			out["retryDelayMs"] = d.GetRetryDelay().AsDuration().Milliseconds()
		}
	}
	out["fieldViolations"] = violations
	return out
}

// codeName spells a code as the gRPC spec does (FAILED_PRECONDITION), like grpcio and grpcurl.
func codeName(camel string) string {
	out := []byte{}
	for i := range len(camel) {
		ch := camel[i]
		if ch >= 'A' && ch <= 'Z' && i > 0 {
			out = append(out, '_')
		}
		if ch >= 'a' && ch <= 'z' {
			ch -= 'a' - 'A'
		}
		out = append(out, ch)
	}
	return string(out)
}

package extauthz

import (
	"testing"

	"google.golang.org/grpc/codes"
)

// TestGRPCCode: each HTTP status of a refusal has the gRPC status Envoy's
// logs and stats read, UNAUTHENTICATED and PERMISSION_DENIED first.
func TestGRPCCode(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   codes.Code
	}{
		{401, codes.Unauthenticated}, {403, codes.PermissionDenied}, {400, codes.InvalidArgument},
		{404, codes.NotFound}, {409, codes.Aborted}, {413, codes.InvalidArgument},
		{429, codes.ResourceExhausted}, {500, codes.Internal}, {503, codes.Unavailable}, {504, codes.DeadlineExceeded}, {505, codes.Internal},
	} {
		if got := grpcCode(tc.status); got != tc.want {
			t.Errorf("%d: %v, want %v", tc.status, got, tc.want)
		}
	}
}

// TestLogPath: a fault's log line never carries the query, where a secret
// may be.
func TestLogPath(t *testing.T) {
	for in, want := range map[string]string{
		"/a/b?token=secret": "/a/b", "/a#x?y": "/a", "/plain": "/plain", "": "",
	} {
		if got := logPath(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
	long := make([]byte, 1000)
	for i := range long {
		long[i] = 'a'
	}
	if got := logPath(string(long)); len(got) != 256 {
		t.Errorf("a long path logs %d bytes", len(got))
	}
}

package extauthz

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"

	"github.com/zectre/zectre-auth/handlers"
	"github.com/zectre/zectre-auth/proxy"
)

type authorization struct {
	authv3.UnimplementedAuthorizationServer
	o Options
}

// Check decides the request Envoy asks about. The gRPC call itself
// succeeds whatever the decision: the decision is in the response's status
// (OK allows), as the protocol has it.
func (a *authorization) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	start := time.Now()
	cr := checkRequest(ctx, req)
	var res proxy.CheckResult
	err := a.decide(&cr, &res)
	if err != nil {
		ans := handlers.ErrorAnswer(err)
		if ans.Fault {
			a.o.Log.Error("ext_authz check failed", "status", ans.Status, "method", cr.Method,
				"path", logPath(cr.Path), "err", ans.Err)
		}
		a.observe(ans.Status, start)
		return denied(ans), nil
	}
	a.observe(200, start)
	return allowed(&res), nil
}

func (a *authorization) observe(status int, start time.Time) {
	if a.o.Observe != nil {
		a.o.Observe(status, time.Since(start))
	}
}

// decide runs the edge's decision; a panic in it is a 500 of this Check,
// never the process's end (the front does the same).
func (a *authorization) decide(cr *proxy.CheckRequest, res *proxy.CheckResult) (err error) {
	edge := a.o.Edge()
	if edge == nil {
		return proxy.ErrNoUpstream // 404, as the front answers without an edge
	}
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("edge panicked: %v", v)
		}
	}()
	return edge.Check(cr, res)
}

// checkRequest is the edge's view of what Envoy asks about. Header lines
// come from header_map when Envoy sends it (encode_raw_headers: each line
// apart, as it arrived), else from the headers map, where Envoy has joined
// repeated lines with ",".
func checkRequest(ctx context.Context, req *authv3.CheckRequest) proxy.CheckRequest {
	attrs := req.GetAttributes()
	h := attrs.GetRequest().GetHttp()
	cr := proxy.CheckRequest{Method: h.GetMethod(), Path: h.GetPath(), Peer: sourceAddr(ctx, attrs)}
	if cr.Path == "" {
		cr.Path = "/"
	}
	if hm := h.GetHeaderMap(); len(hm.GetHeaders()) > 0 {
		cr.Headers = make([]proxy.HeaderLine, 0, len(hm.GetHeaders()))
		for _, hv := range hm.GetHeaders() {
			v := hv.GetValue()
			if len(hv.GetRawValue()) > 0 {
				v = string(hv.GetRawValue())
			}
			cr.Headers = append(cr.Headers, proxy.HeaderLine{Name: hv.GetKey(), Value: v})
		}
		return cr
	}
	cr.Headers = make([]proxy.HeaderLine, 0, len(h.GetHeaders()))
	for k, v := range h.GetHeaders() {
		cr.Headers = append(cr.Headers, proxy.HeaderLine{Name: k, Value: v})
	}
	return cr
}

// sourceAddr is the downstream client's address as Envoy saw it, else the
// address Envoy itself calls from.
func sourceAddr(ctx context.Context, attrs *authv3.AttributeContext) netip.Addr {
	if s := attrs.GetSource().GetAddress().GetSocketAddress().GetAddress(); s != "" {
		if a, err := netip.ParseAddr(s); err == nil {
			return a.Unmap()
		}
	}
	if p, ok := peer.FromContext(ctx); ok {
		if ta, ok := p.Addr.(*net.TCPAddr); ok {
			if a, ok := netip.AddrFromSlice(ta.IP); ok {
				return a.Unmap()
			}
		}
	}
	return netip.Addr{}
}

// allowed is the OK answer: the identity headers set, overwriting
// (OVERWRITE_IF_EXISTS_OR_ADD, explicitly: Envoy's default action has
// changed between versions), empty values kept, so that an empty trusted
// value still replaces a client's; and the client's other identity header
// lines removed.
func allowed(res *proxy.CheckResult) *authv3.CheckResponse {
	ok := &authv3.OkHttpResponse{HeadersToRemove: res.Remove}
	for _, hl := range res.Set {
		ok.Headers = append(ok.Headers, &corev3.HeaderValueOption{
			Header:         &corev3.HeaderValue{Key: hl.Name, Value: hl.Value},
			AppendAction:   corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
			KeepEmptyValue: true,
		})
	}
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok},
	}
}

// denied is the refusal: the HTTP status, the JSON error envelope and its
// headers, as /verify answers it, and the gRPC status that names it (its
// message the envelope, for Envoy's logs).
func denied(ans handlers.Answer) *authv3.CheckResponse {
	d := &authv3.DeniedHttpResponse{Status: &typev3.HttpStatus{Code: typev3.StatusCode(ans.Status)}, Body: string(ans.Body)}
	for _, kv := range ans.Header {
		d.Headers = append(d.Headers, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: strings.ToLower(kv[0]), Value: kv[1]},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		})
	}
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(grpcCode(ans.Status)), Message: string(ans.Body)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: d},
	}
}

// grpcCode is the gRPC status of a refusal with HTTP status st: the code
// google.rpc.Code names as the counterpart of that HTTP status.
func grpcCode(st int) codes.Code {
	switch {
	case st == 401:
		return codes.Unauthenticated
	case st == 403:
		return codes.PermissionDenied
	case st == 404:
		return codes.NotFound
	case st == 409:
		return codes.Aborted
	case st == 429:
		return codes.ResourceExhausted
	case st == 503:
		return codes.Unavailable
	case st == 504:
		return codes.DeadlineExceeded
	case st >= 500:
		return codes.Internal
	case st >= 400:
		return codes.InvalidArgument
	}
	return codes.PermissionDenied
}

// logPath is the path of a Check for the log: without its query, which
// may carry a secret, and at most 256 bytes.
func logPath(p string) string {
	if k := strings.IndexAny(p, "?#"); k >= 0 {
		p = p[:k]
	}
	return p[:min(len(p), 256)]
}

package auth

import (
	"context"
	"net"
	"net/http"
	"strings"
)

type clientIPKey struct{}

// WithClientIP records the address a request came from, for the per-address
// rate limits of sign-up and sign-in.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// ClientIP is the address WithClientIP recorded, or "" (the CLI, tests of
// services).
func ClientIP(ctx context.Context) string {
	ip, _ := ctx.Value(clientIPKey{}).(string)
	return ip
}

// RequestIP is the client's address of r. With trustedHops proxies of ours
// in front, each appending the address it saw to X-Forwarded-For, the
// client is the trustedHops-th address from the right: what a client
// writes into the header itself is further left and never trusted.
func RequestIP(r *http.Request, trustedHops int) string {
	remote, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		remote = r.RemoteAddr
	}
	if trustedHops == 0 {
		return remote
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		for _, a := range strings.Split(h, ",") {
			if a = strings.TrimSpace(a); a != "" {
				hops = append(hops, a)
			}
		}
	}
	if len(hops) < trustedHops {
		return remote // not through our proxies
	}
	return hops[len(hops)-trustedHops]
}

// allowFromAddress counts a request against lim for the request's address
// (sign-up and sign-in slow down one address trying many accounts);
// requests with no address (the CLI) and a limit of 0 are not limited.
func (s *Service) allowFromAddress(ctx context.Context, lim Limit) error {
	ip := ClientIP(ctx)
	if ip == "" || lim.Max == 0 {
		return nil
	}
	return s.limiter.Allow(ctx, lim, ip)
}

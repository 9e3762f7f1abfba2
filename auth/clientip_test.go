package auth

import (
	"net/http"
	"testing"
)

func TestRequestIP(t *testing.T) {
	for _, tc := range []struct {
		remote string
		xff    []string
		hops   int
		want   string
	}{
		{"192.0.2.7:5555", nil, 0, "192.0.2.7"},
		{"192.0.2.7:5555", []string{"203.0.113.9"}, 0, "192.0.2.7"}, // no proxy trusted: the header is ignored
		{"10.0.0.5:443", []string{"203.0.113.9"}, 1, "203.0.113.9"},
		{"10.0.0.5:443", []string{"1.1.1.1, 203.0.113.9"}, 1, "203.0.113.9"}, // 1.1.1.1 was written by the client
		{"10.0.0.5:443", []string{"1.1.1.1", "203.0.113.9, 10.0.0.4"}, 2, "203.0.113.9"},
		{"10.0.0.5:443", nil, 1, "10.0.0.5"}, // not through the proxy
		{"[2001:db8::1]:80", nil, 0, "2001:db8::1"},
	} {
		r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{"X-Forwarded-For": tc.xff}}
		if got := RequestIP(r, tc.hops); got != tc.want {
			t.Errorf("RequestIP(%s, %v, %d) = %q, want %q", tc.remote, tc.xff, tc.hops, got, tc.want)
		}
	}
}

package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// handleHealthz answers liveness probes: the process is up and serving.
// It checks nothing else, so a database outage does not get it restarted.
func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		respondJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// handleReadyz answers readiness probes: 503 while the database does not
// answer, so the load balancer sends traffic elsewhere. The timeout keeps a
// hung database from hanging the probe; the reason goes to the log only.
func handleReadyz(ping func(context.Context) error, logger *slog.Logger) http.Handler {
	logger = WithRequestContext(logger)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := ping(ctx); err != nil {
			logger.LogAttrs(r.Context(), slog.LevelWarn, "readiness check failed",
				slog.String("err", err.Error()),
			)
			respondJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
			return
		}
		respondJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

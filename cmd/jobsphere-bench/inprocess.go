package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/jobsphere/jobsphere/app"
	"github.com/jobsphere/jobsphere/config"
)

// startInProcess serves the same configuration from this process, for
// CPU profiles of the server with the load generator's goroutines
// labelled apart.
func (b *bench) startInProcess(ctx context.Context, name string, env map[string]string) (*target, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	env["PORT"] = strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	env["PUBLIC_URL"] = "http://" + ln.Addr().String()
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		ln.Close()
		return nil, err
	}
	logPath := filepath.Join(b.work, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		ln.Close()
		return nil, err
	}
	t := &target{name: name, url: env["PUBLIC_URL"], pid: os.Getpid(), env: env, logPath: logPath, started: time.Now()}
	app, err := app.Open(ctx, cfg, slog.New(slog.NewJSONHandler(logf, &slog.HandlerOptions{Level: cfg.LogLevel})))
	if err != nil {
		ln.Close()
		logf.Close()
		return nil, err
	}
	connCtx, closeConns := context.WithCancel(context.Background())
	api := app.NewServer()
	srv := &http.Server{Handler: api, BaseContext: func(net.Listener) context.Context { return connCtx }, ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(closeConns)
	go srv.Serve(ln) //nolint:errcheck // ends at Shutdown
	var once sync.Once
	t.stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
			closeConns()
			_ = api.DrainWebsockets(ctx)
			_ = app.Close()
			logf.Close()
		})
	}
	b.defer_(t.stop)
	if err := waitReady(ctx, t, nil); err != nil {
		t.stop()
		return nil, err
	}
	return t, nil
}

// start runs a server the way the phase needs: in-process when
// profiling it, else as a subprocess.
func (b *bench) start(ctx context.Context, name string, env map[string]string, profiled bool) (*target, error) {
	if profiled && b.opts.profileDir != "" {
		return b.startInProcess(ctx, name, env)
	}
	return b.startServer(ctx, name, env)
}

// freePort asks the kernel for a port nobody listens on.
func freePort() (port int, err error) {
	var ln net.Listener
	if ln, err = net.Listen("tcp", "127.0.0.1:0"); err == nil {
		port = ln.Addr().(*net.TCPAddr).Port
		err = ln.Close()
	}
	return port, err
}

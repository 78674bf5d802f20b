// Package serve runs an HTTP server under Cloud Run's contract: listen on
// $PORT, and on SIGTERM stop accepting and drain in-flight requests within
// 10 s.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// DrainTimeout is how long in-flight requests get after SIGTERM; Cloud Run
// kills the instance 10 s after it.
const DrainTimeout = 9 * time.Second

// Limits of every server: a client that trickles its headers or its body
// is cut off within seconds, an idle keep-alive connection is closed, and
// headers are bounded. Long-polls are unaffected: the read deadline is
// lifted once the body is read, and the write timeout leaves room for the
// 60 s maximum wait.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 10 * time.Second // headers and body (at most 64 KiB)
	WriteTimeout      = 75 * time.Second
	IdleTimeout       = 30 * time.Second
	MaxHeaderBytes    = 64 << 10
)

// Limit sets the limits on srv.
func Limit(srv *http.Server) {
	srv.ReadHeaderTimeout = ReadHeaderTimeout
	srv.ReadTimeout = ReadTimeout
	srv.WriteTimeout = WriteTimeout
	srv.IdleTimeout = IdleTimeout
	srv.MaxHeaderBytes = MaxHeaderBytes
}

// Run serves h on addr until ctx is done, then shuts down gracefully.
func Run(ctx context.Context, log *slog.Logger, addr string, h http.Handler) error {
	// No TCP keep-alive probes: Pub/Sub pushes and Cloud Run's front end
	// manage their own connections, and the emulator opens one per push,
	// where the probe settings cost four syscalls each.
	ln, err := (&net.ListenConfig{KeepAlive: -1}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	Limit(srv)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), DrainTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
)

// otlpSink is an OTLP/HTTP endpoint that takes traces and metrics and
// drops them: with it `make bench` measures what exporting costs the
// services (spans batched, encoded as protobuf and posted, as to Google
// Cloud's Telemetry API) without leaving the machine. Its own CPU is
// devstack's, not the services'.
type otlpSink struct {
	srv             *http.Server
	url             string
	requests, bytes atomic.Int64
}

func startOTLPSink() (*otlpSink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &otlpSink{url: "http://" + l.Addr().String()}
	mux := http.NewServeMux()
	drop := func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		s.requests.Add(1)
		s.bytes.Add(n)
		// An empty Export*ServiceResponse: everything accepted.
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}
	mux.HandleFunc("POST /v1/traces", drop)
	mux.HandleFunc("POST /v1/metrics", drop)
	s.srv = &http.Server{Handler: mux}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

func (s *otlpSink) stop() {
	_ = s.srv.Close()
	fmt.Fprintf(os.Stderr, "devstack: OTLP sink took %d exports, %d KiB\n", s.requests.Load(), s.bytes.Load()>>10)
}

// Package metrics is what an operator watches and alerts on, with
// OpenTelemetry: sagas ended by outcome and reason, the latency of each
// step, failed publishes, dead letters, long-polls in flight, and what the
// sweeps and the reconciliation did (otel.go). It also counts what a saga
// costs: Pub/Sub publishes and the Firestore documents read and written, as
// the billing counts them. The Firestore counts come from a gRPC
// interceptor on the client, so no call site can forget them. Locally
// GET /metrics serves all of it as Prometheus text, and `make bench`
// divides the cost counters by the sagas it ran (Scrape); in production
// the metrics can go to Google Cloud's OTLP endpoint instead.
package metrics

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"

	"cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// The cost counters of one process. They are plain atomics, counted
// whether or not metrics are exported, and exported as OpenTelemetry
// observable instruments read at collection time.
var (
	Publishes       atomic.Int64
	FirestoreReads  atomic.Int64
	FirestoreWrites atomic.Int64
)

// Snapshot is the cost counters and the long-poll gauge at one moment, as
// Scrape reads them from GET /metrics.
type Snapshot struct {
	Publishes       int64 `json:"pubsub_publishes"`
	FirestoreReads  int64 `json:"firestore_reads"`
	FirestoreWrites int64 `json:"firestore_writes"`
	LongPolls       int64 `json:"long_polls"`
}

// FirestoreOptions makes a Firestore client count its reads and writes,
// with dial on its connection. With the emulator (emulatorHost set) the
// client would dial its own connection and ignore dial options, so it gets
// one dialed here, as the client dials it, plus the counters.
func FirestoreOptions(emulatorHost string, dial ...grpc.DialOption) ([]option.ClientOption, error) {
	counters := append([]grpc.DialOption{grpc.WithChainUnaryInterceptor(countUnary), grpc.WithChainStreamInterceptor(countStream)}, dial...)
	if emulatorHost == "" {
		var opts []option.ClientOption
		for _, d := range counters {
			opts = append(opts, option.WithGRPCDialOption(d))
		}
		return opts, nil
	}
	conn, err := grpc.NewClient(emulatorHost, append(counters,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(emulatorOwner{}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)))...)
	if err != nil {
		return nil, fmt.Errorf("dial the Firestore emulator at %s: %w", emulatorHost, err)
	}
	return []option.ClientOption{option.WithGRPCConn(conn)}, nil
}

// emulatorOwner is the credential the Firestore emulator takes as admin,
// as the client library sends it.
type emulatorOwner struct{}

func (emulatorOwner) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer owner"}, nil
}

func (emulatorOwner) RequireTransportSecurity() bool { return false }

func countUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	if err != nil {
		return err
	}
	switch r := req.(type) {
	case *firestorepb.CommitRequest:
		FirestoreWrites.Add(int64(len(r.Writes)))
	case *firestorepb.BatchWriteRequest:
		FirestoreWrites.Add(int64(len(r.Writes)))
	case *firestorepb.GetDocumentRequest:
		FirestoreReads.Add(1)
	}
	return nil
}

func countStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, err
	}
	return countingStream{s}, nil
}

type countingStream struct{ grpc.ClientStream }

func (s countingStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil {
		return err
	}
	switch r := m.(type) {
	case *firestorepb.BatchGetDocumentsResponse:
		// A lookup of a missing document is billed as a read too.
		if r.GetFound() != nil || r.GetMissing() != "" {
			FirestoreReads.Add(1)
		}
	case *firestorepb.RunQueryResponse:
		if r.GetDocument() != nil {
			FirestoreReads.Add(1)
		}
	case *firestorepb.ListenResponse:
		if r.GetDocumentChange() != nil {
			FirestoreReads.Add(1)
		}
	case *firestorepb.RunAggregationQueryResponse:
		// Billed one read per 1,000 index entries it went over, at least
		// one; the response does not say how many, so this counts the
		// least.
		if r.GetResult() != nil {
			FirestoreReads.Add(1)
		}
	}
	return nil
}

// Package txbegin lets a Firestore transaction begin with its first read,
// as the Firestore API allows (new_transaction on BatchGetDocuments,
// RunQuery and RunAggregationQuery), instead of with a BeginTransaction
// call of its own, which the Go client always makes: one round trip fewer
// per transaction, and one fewer gRPC call's CPU (a saga runs three).
//
// It works under the client, as gRPC interceptors on the client's
// connection, so that documents are still encoded and decoded, and
// transactions still retried, by the client library:
//
//   - BeginTransaction is answered here with a placeholder id and the
//     transaction's options are kept;
//   - the first read that names the placeholder asks the server to begin
//     the transaction (new_transaction), and its first response gives the
//     real id, which every later call of the transaction uses; reads of
//     one transaction that overlap wait for that first one;
//   - Commit and Rollback name the real id. A transaction that read
//     nothing commits its writes without one (a commit is atomic on its
//     own, and there is no read to keep consistent) and rolls back nothing;
//   - a retry after ABORTED names the real id of the attempt it retries,
//     as the client would, so the server still favours it.
//
// Anything else passes through untouched.
//
// One case differs from a separate begin: when the answer to a first read
// is lost (a cut connection, a cancelled request), the server may have
// begun the transaction, with the read's locks, under an id nobody knows.
// Firestore ends it after its idle timeout, as it ends the transaction of
// a process that died mid-step; until then a step that needs those
// documents waits or retries.
package txbegin

import (
	"bytes"
	"context"
	"strconv"
	"sync"
	"sync/atomic"

	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// prefix marks a placeholder id; real ids are opaque bytes from the server.
const prefix = "txbegin:"

// maxRetired bounds the ids kept for retries after a rollback.
const maxRetired = 4096

// Interceptors hold the transactions of one client connection.
type Interceptors struct {
	seq     atomic.Uint64
	mu      sync.Mutex
	open    map[string]*tx
	retired map[string][]byte // placeholder → real id (nil: never begun), for retries
}

// tx is one attempt of a transaction.
type tx struct {
	opts *pb.TransactionOptions

	mu    sync.Mutex
	state int // idle, beginning or begun
	id    []byte
	wait  chan struct{} // closed when a begin in flight ends
}

const (
	idle = iota
	beginning
	begun
)

// New returns the interceptors for one Firestore client.
func New() *Interceptors {
	return &Interceptors{open: map[string]*tx{}, retired: map[string][]byte{}}
}

// DialOptions install the interceptors on a connection.
func (i *Interceptors) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithChainUnaryInterceptor(i.unary), grpc.WithChainStreamInterceptor(i.stream)}
}

func isPlaceholder(id []byte) bool { return bytes.HasPrefix(id, []byte(prefix)) }

func (i *Interceptors) lookup(id []byte) (*tx, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	t, ok := i.open[string(id)]
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "txbegin: transaction %q is not open", id)
	}
	return t, nil
}

// retire ends a transaction attempt, keeping its real id for a retry.
func (i *Interceptors) retire(placeholder []byte, t *tx, keep bool) {
	t.mu.Lock()
	id := t.id
	t.mu.Unlock()
	i.mu.Lock()
	defer i.mu.Unlock()
	delete(i.open, string(placeholder))
	if keep {
		if len(i.retired) >= maxRetired {
			clear(i.retired)
		}
		i.retired[string(placeholder)] = id
	}
}

func (i *Interceptors) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	switch r := req.(type) {
	case *pb.BeginTransactionRequest:
		if r.GetOptions().GetReadOnly() != nil {
			break // read-only transactions are left as they are
		}
		res, ok := reply.(*pb.BeginTransactionResponse)
		if !ok {
			break
		}
		rw := &pb.TransactionOptions_ReadWrite{}
		if prev := r.GetOptions().GetReadWrite().GetRetryTransaction(); len(prev) > 0 {
			rw.RetryTransaction = i.realRetry(prev)
		}
		txOpts := &pb.TransactionOptions{Mode: &pb.TransactionOptions_ReadWrite_{ReadWrite: rw}}
		id := []byte(prefix + strconv.FormatUint(i.seq.Add(1), 10))
		i.mu.Lock()
		i.open[string(id)] = &tx{opts: txOpts}
		i.mu.Unlock()
		res.Transaction = id
		return nil
	case *pb.CommitRequest:
		if !isPlaceholder(r.GetTransaction()) {
			break
		}
		t, err := i.lookup(r.Transaction)
		if err != nil {
			return err
		}
		id, err := t.settled(ctx)
		if err != nil {
			return err
		}
		out := proto.Clone(r).(*pb.CommitRequest)
		out.Transaction = id // nil: nothing was read, a plain atomic commit
		err = invoker(ctx, method, out, reply, cc, opts...)
		if err == nil {
			i.retire(r.Transaction, t, false)
		}
		return err // on an error the client rolls back, which retires it
	case *pb.RollbackRequest:
		if !isPlaceholder(r.GetTransaction()) {
			break
		}
		t, err := i.lookup(r.Transaction)
		if err != nil {
			return err
		}
		id, err := t.settled(ctx)
		defer i.retire(r.Transaction, t, true)
		if err != nil || id == nil {
			return err // nothing began on the server
		}
		out := proto.Clone(r).(*pb.RollbackRequest)
		out.Transaction = id
		return invoker(ctx, method, out, reply, cc, opts...)
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// realRetry is the server's id for the attempt a retry names.
func (i *Interceptors) realRetry(prev []byte) []byte {
	if !isPlaceholder(prev) {
		return prev
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if id, ok := i.retired[string(prev)]; ok {
		delete(i.retired, string(prev))
		return id
	}
	if t, ok := i.open[string(prev)]; ok {
		t.mu.Lock()
		defer t.mu.Unlock()
		return t.id
	}
	return nil
}

// settled waits for a begin in flight and returns the real id (nil when
// the transaction never began).
func (t *tx) settled(ctx context.Context) ([]byte, error) {
	for {
		t.mu.Lock()
		if t.state != beginning {
			id := t.id
			t.mu.Unlock()
			return id, nil
		}
		wait := t.wait
		t.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// claim decides how a read of t goes out: with the real id, or, for the
// first read, beginning the transaction (first = true).
func (t *tx) claim(ctx context.Context) (id []byte, first bool, err error) {
	for {
		t.mu.Lock()
		switch t.state {
		case begun:
			id := t.id
			t.mu.Unlock()
			return id, false, nil
		case idle:
			t.state, t.wait = beginning, make(chan struct{})
			t.mu.Unlock()
			return nil, true, nil
		}
		wait := t.wait
		t.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// began ends a begin in flight: with the real id, or, on failure (id nil),
// back to idle so that another read can begin the transaction.
func (t *tx) began(id []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state != beginning {
		return
	}
	if id != nil {
		t.state, t.id = begun, id
	} else {
		t.state = idle
	}
	close(t.wait)
}

func (i *Interceptors) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, err
	}
	return &readStream{ClientStream: s, i: i, ctx: ctx}, nil
}

// readStream is a streamed call that may read in a transaction.
type readStream struct {
	grpc.ClientStream
	i     *Interceptors
	ctx   context.Context
	begin *tx // set while this stream's first response must give the id
}

func (s *readStream) SendMsg(m any) error {
	id := readTransaction(m)
	if !isPlaceholder(id) {
		return s.ClientStream.SendMsg(m)
	}
	t, err := s.i.lookup(id)
	if err != nil {
		return err
	}
	real, first, err := t.claim(s.ctx)
	if err != nil {
		return err
	}
	out := proto.Clone(m.(proto.Message))
	if first {
		s.begin = t
		setNewTransaction(out, t.opts)
	} else {
		setTransaction(out, real)
	}
	if err := s.ClientStream.SendMsg(out); err != nil {
		if first {
			t.began(nil)
			s.begin = nil
		}
		return err
	}
	return nil
}

func (s *readStream) RecvMsg(m any) error {
	for {
		err := s.ClientStream.RecvMsg(m)
		t := s.begin
		if t == nil {
			return err
		}
		if err != nil {
			t.began(nil)
			s.begin = nil
			return err
		}
		id := responseTransaction(m)
		if len(id) == 0 {
			t.began(nil)
			s.begin = nil
			return status.Error(codes.Internal, "txbegin: the first response of a read that begins a transaction has no transaction id")
		}
		t.began(id)
		s.begin = nil
		// The Go client takes every BatchGetDocuments response for a
		// document; the one that only carries the new id is not.
		if r, ok := m.(*pb.BatchGetDocumentsResponse); ok && r.Result == nil {
			continue
		}
		return nil
	}
}

// readTransaction is the transaction a read names, if any.
func readTransaction(m any) []byte {
	switch r := m.(type) {
	case *pb.BatchGetDocumentsRequest:
		return r.GetTransaction()
	case *pb.RunQueryRequest:
		return r.GetTransaction()
	case *pb.RunAggregationQueryRequest:
		return r.GetTransaction()
	}
	return nil
}

func setTransaction(m proto.Message, id []byte) {
	switch r := m.(type) {
	case *pb.BatchGetDocumentsRequest:
		r.ConsistencySelector = &pb.BatchGetDocumentsRequest_Transaction{Transaction: id}
	case *pb.RunQueryRequest:
		r.ConsistencySelector = &pb.RunQueryRequest_Transaction{Transaction: id}
	case *pb.RunAggregationQueryRequest:
		r.ConsistencySelector = &pb.RunAggregationQueryRequest_Transaction{Transaction: id}
	}
}

func setNewTransaction(m proto.Message, opts *pb.TransactionOptions) {
	switch r := m.(type) {
	case *pb.BatchGetDocumentsRequest:
		r.ConsistencySelector = &pb.BatchGetDocumentsRequest_NewTransaction{NewTransaction: opts}
	case *pb.RunQueryRequest:
		r.ConsistencySelector = &pb.RunQueryRequest_NewTransaction{NewTransaction: opts}
	case *pb.RunAggregationQueryRequest:
		r.ConsistencySelector = &pb.RunAggregationQueryRequest_NewTransaction{NewTransaction: opts}
	}
}

func responseTransaction(m any) []byte {
	switch r := m.(type) {
	case *pb.BatchGetDocumentsResponse:
		return r.GetTransaction()
	case *pb.RunQueryResponse:
		return r.GetTransaction()
	case *pb.RunAggregationQueryResponse:
		return r.GetTransaction()
	}
	return nil
}

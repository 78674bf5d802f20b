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
//     nothing begins at its commit, with a BeginTransaction call, so that
//     a retried commit is still applied at most once;
//   - a retry after ABORTED names the real id of the attempt it retries,
//     as the client would, so the server still favours it;
//   - when the read that begins a transaction fails, the attempt is over:
//     its other calls answer ABORTED, and the client runs it again.
//
// Any other call that names a placeholder is refused; calls outside
// transactions pass through untouched.
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
	"errors"
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

const beginMethod = "/google.firestore.v1.Firestore/BeginTransaction"

// Interceptors hold the transactions of one client connection.
type Interceptors struct {
	seq  atomic.Uint64
	mu   sync.Mutex
	open map[string]*tx
	// retired keeps the real id of rolled-back attempts (nil: never
	// begun) for their retry, oldest first out.
	retired map[string][]byte
	order   []string
}

// tx is one attempt of a transaction.
type tx struct {
	opts *pb.TransactionOptions

	mu     sync.Mutex
	state  int
	id     []byte
	wait   chan struct{} // closed when a begin in flight ends
	ending bool          // Commit or Rollback has taken it: no more reads
}

const (
	idle      = iota // nothing read yet
	beginning        // the first read is on its way
	begun            // id is the server's
	lost             // the first read failed: the attempt is over
)

// errLost ends an attempt whose first read failed; the client retries
// ABORTED transactions from the start.
var errLost = status.Error(codes.Aborted, "txbegin: the read that began this transaction failed; run it again")

// New returns the interceptors for one Firestore client.
func New() *Interceptors {
	return &Interceptors{open: map[string]*tx{}, retired: map[string][]byte{}}
}

// DialOptions install the interceptors on a connection.
func (i *Interceptors) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithChainUnaryInterceptor(i.unary), grpc.WithChainStreamInterceptor(i.stream)}
}

func isPlaceholder(id []byte) bool { return bytes.HasPrefix(id, []byte(prefix)) }

// named is the transaction a request names, if it names one.
func named(req any) []byte {
	if r, ok := req.(interface{ GetTransaction() []byte }); ok {
		return r.GetTransaction()
	}
	return nil
}

func (i *Interceptors) lookup(id []byte) (*tx, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	t, ok := i.open[string(id)]
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "txbegin: transaction %q is not open", id)
	}
	return t, nil
}

// retire ends a transaction attempt, keeping its real id (when keep) for
// a retry or a repeated rollback.
func (i *Interceptors) retire(placeholder []byte, id []byte, keep bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	delete(i.open, string(placeholder))
	if !keep {
		return
	}
	if _, ok := i.retired[string(placeholder)]; !ok {
		i.order = append(i.order, string(placeholder))
	}
	i.retired[string(placeholder)] = id
	for len(i.order) > maxRetired {
		delete(i.retired, i.order[0])
		i.order = i.order[1:]
	}
}

func (i *Interceptors) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	switch r := req.(type) {
	case *pb.BeginTransactionRequest:
		res, ok := reply.(*pb.BeginTransactionResponse)
		if r.GetOptions().GetReadOnly() != nil || !ok {
			break // read-only transactions are left as they are
		}
		rw := &pb.TransactionOptions_ReadWrite{}
		if prev := r.GetOptions().GetReadWrite().GetRetryTransaction(); len(prev) > 0 {
			rw.RetryTransaction = i.realRetry(prev)
		}
		id := []byte(prefix + strconv.FormatUint(i.seq.Add(1), 10))
		i.mu.Lock()
		i.open[string(id)] = &tx{opts: &pb.TransactionOptions{Mode: &pb.TransactionOptions_ReadWrite_{ReadWrite: rw}}}
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
		id, err := t.end(ctx)
		if err != nil {
			return err
		}
		if id == nil {
			// Nothing was read: begin it now, so that the server still
			// applies a commit gax retries at most once.
			begin := &pb.BeginTransactionResponse{}
			if err := invoker(ctx, beginMethod,
				&pb.BeginTransactionRequest{Database: r.Database, Options: t.opts}, begin, cc, opts...); err != nil {
				return err
			}
			id = begin.Transaction
			t.mu.Lock()
			t.id = id
			t.mu.Unlock()
		}
		out := proto.Clone(r).(*pb.CommitRequest)
		out.Transaction = id
		err = invoker(ctx, method, out, reply, cc, opts...)
		if err == nil {
			i.retire(r.Transaction, id, false)
		}
		return err // on an error the client rolls back, which retires it
	case *pb.RollbackRequest:
		if !isPlaceholder(r.GetTransaction()) {
			break
		}
		id, err := i.forRollback(ctx, r.Transaction)
		if err != nil || id == nil {
			return err // nothing began on the server
		}
		out := proto.Clone(r).(*pb.RollbackRequest)
		out.Transaction = id
		return invoker(ctx, method, out, reply, cc, opts...)
	default:
		if isPlaceholder(named(req)) {
			return status.Errorf(codes.Unimplemented, "txbegin: %s in a transaction is not supported", method)
		}
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// forRollback is the real id a rollback names (nil: nothing began), and
// retires the attempt; a repeated rollback (gax retries one) finds it
// among the retired.
func (i *Interceptors) forRollback(ctx context.Context, placeholder []byte) ([]byte, error) {
	t, err := i.lookup(placeholder)
	if err != nil {
		i.mu.Lock()
		defer i.mu.Unlock()
		if id, ok := i.retired[string(placeholder)]; ok {
			return id, nil
		}
		return nil, err
	}
	id, err := t.end(ctx)
	// Retired even when the wait for a begin in flight ran out: the
	// attempt is over either way (a transaction that began meanwhile ends
	// on the server's idle timeout).
	i.retire(placeholder, id, true)
	if errors.Is(err, errLost) {
		return nil, nil // nothing began on the server
	}
	return id, err
}

// realRetry is the server's id for the attempt a retry names.
func (i *Interceptors) realRetry(prev []byte) []byte {
	if !isPlaceholder(prev) {
		return prev
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	// The client rolls an attempt back before it retries it, so the
	// attempt is among the retired (or was pushed out: no priority then).
	return i.retired[string(prev)]
}

// end waits for a begin in flight, closes t to further reads, and returns
// the real id (nil when nothing began on the server).
func (t *tx) end(ctx context.Context) ([]byte, error) {
	for {
		t.mu.Lock()
		if t.state != beginning {
			t.ending = true
			id, state := t.id, t.state
			t.mu.Unlock()
			if state == lost {
				return nil, errLost
			}
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
		if t.ending {
			t.mu.Unlock()
			return nil, false, status.Error(codes.FailedPrecondition, "txbegin: a read after the transaction's commit or rollback")
		}
		switch t.state {
		case begun:
			id := t.id
			t.mu.Unlock()
			return id, false, nil
		case lost:
			t.mu.Unlock()
			return nil, false, errLost
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

// began ends a begin in flight: with the real id, or (nil) as lost.
func (t *tx) began(id []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state != beginning {
		return
	}
	if id != nil {
		t.state, t.id = begun, id
	} else {
		t.state = lost
	}
	close(t.wait)
}

// reads are the streamed calls a transaction may begin with.
var reads = map[string]bool{
	"/google.firestore.v1.Firestore/BatchGetDocuments":   true,
	"/google.firestore.v1.Firestore/RunQuery":            true,
	"/google.firestore.v1.Firestore/RunAggregationQuery": true,
}

func (i *Interceptors) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if !reads[method] {
		s, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			return nil, err
		}
		return guardedStream{s}, nil
	}
	// A read ends with its last response; one that fails here, before
	// the caller sees it, is cancelled so that its stream is let go.
	ctx, cancel := context.WithCancel(ctx)
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		cancel()
		return nil, err
	}
	return &readStream{ClientStream: s, i: i, ctx: ctx, cancel: cancel}, nil
}

// guardedStream refuses messages that name a placeholder on streams that
// cannot begin a transaction.
type guardedStream struct{ grpc.ClientStream }

func (s guardedStream) SendMsg(m any) error {
	if isPlaceholder(named(m)) {
		return status.Error(codes.Unimplemented, "txbegin: this call in a transaction is not supported")
	}
	return s.ClientStream.SendMsg(m)
}

// readStream is a streamed read that may be in a transaction.
type readStream struct {
	grpc.ClientStream
	i      *Interceptors
	ctx    context.Context
	cancel context.CancelFunc
	begin  *tx // set while this stream's first response must give the id
}

func (s *readStream) SendMsg(m any) error {
	id := named(m)
	if !isPlaceholder(id) {
		return s.ClientStream.SendMsg(m)
	}
	t, err := s.i.lookup(id)
	if err == nil {
		err = s.send(t, m)
	}
	if err != nil {
		s.cancel()
	}
	return err
}

func (s *readStream) send(t *tx, m any) error {
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
		s.fail()
		return err
	}
	return nil
}

// fail ends the begin this stream carried, if any: the attempt is lost.
func (s *readStream) fail() {
	if s.begin != nil {
		s.begin.began(nil)
		s.begin = nil
	}
}

func (s *readStream) RecvMsg(m any) error {
	for {
		err := s.ClientStream.RecvMsg(m)
		if err != nil {
			s.fail()
			s.cancel() // the stream is over
			return err
		}
		t := s.begin
		if t == nil {
			return nil
		}
		s.begin = nil
		id := responseTransaction(m)
		if len(id) == 0 {
			t.began(nil)
			s.cancel()
			return status.Error(codes.Internal, "txbegin: the first response of a read that begins a transaction has no transaction id")
		}
		t.began(id)
		// The Go client takes every BatchGetDocuments response for a
		// document; the one that only carries the new id is not.
		if r, ok := m.(*pb.BatchGetDocumentsResponse); ok && r.Result == nil {
			continue
		}
		return nil
	}
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

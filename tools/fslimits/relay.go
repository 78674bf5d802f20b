package fslimits

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Limits are the rates the relay enforces; 0 turns a limit off.
type Limits struct {
	// DocWritesPerSecond is each document's write rate, in the
	// collections DocCollections (the stock shards: the documents a sale
	// writes again and again).
	DocWritesPerSecond float64
	DocCollections     []string
	// RangeWritesPerSecond is each sequential index range's write rate
	// (production: 500, scaled as the document rate is).
	RangeWritesPerSecond float64
}

// Relay is the Firestore relay of one stack.
type Relay struct {
	limits  Limits
	rules   *Rules
	backend *grpc.ClientConn
	budget  *budget
	server  *grpc.Server
	lis     net.Listener

	mu    sync.Mutex
	docs  map[string]Doc             // document name → its fields as last committed here
	wrote map[string]map[string]bool // collection → field path → its values grow with time
	hot   map[string]int64           // index range, or document collection → commits it delayed or aborted

	commits                    atomic.Int64
	docDelayed, docAborted     atomic.Int64
	rangeDelayed, rangeAborted atomic.Int64
	waited                     atomic.Int64 // ns
}

// Start serves the relay on addr (127.0.0.1:0 for a free port), forwarding
// to the emulator at backend.
func Start(addr, backend string, rules *Rules, limits Limits) (*Relay, error) {
	conn, err := grpc.NewClient(backend, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{}), grpc.MaxCallRecvMsgSize(1<<30), grpc.MaxCallSendMsgSize(1<<30)))
	if err != nil {
		return nil, fmt.Errorf("fslimits: dial %s: %w", backend, err)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("fslimits: listen on %s: %w", addr, err)
	}
	r := &Relay{limits: limits, rules: rules, backend: conn, budget: newBudget(), lis: lis,
		docs: map[string]Doc{}, wrote: map[string]map[string]bool{}, hot: map[string]int64{}}
	r.server = grpc.NewServer(grpc.UnknownServiceHandler(r.forward), grpc.ForceServerCodec(rawCodec{}),
		grpc.MaxRecvMsgSize(1<<30), grpc.MaxSendMsgSize(1<<30))
	go r.server.Serve(lis) //nolint:errcheck // ends with Stop
	return r, nil
}

// Addr is the relay's host:port, for FIRESTORE_EMULATOR_HOST.
func (r *Relay) Addr() string { return r.lis.Addr().String() }

// Stop stops serving and closes the connection to the emulator.
func (r *Relay) Stop() {
	r.server.Stop()
	_ = r.backend.Close()
}

// Stats are what the limits did so far: commits delayed or aborted by a
// document's limit, or by an index range's.
type Stats struct {
	Commits                    int64
	DocDelayed, DocAborted     int64
	RangeDelayed, RangeAborted int64
	Waited                     time.Duration
	// Hot are the index ranges (and the collections of the documents)
	// that delayed or aborted commits, and how many.
	Hot map[string]int64
}

// Stats returns what the limits did so far.
func (r *Relay) Stats() Stats {
	r.mu.Lock()
	hot := maps.Clone(r.hot)
	r.mu.Unlock()
	return Stats{Commits: r.commits.Load(), DocDelayed: r.docDelayed.Load(), DocAborted: r.docAborted.Load(),
		RangeDelayed: r.rangeDelayed.Load(), RangeAborted: r.rangeAborted.Load(), Waited: time.Duration(r.waited.Load()), Hot: hot}
}

// Written returns every field the services wrote through the relay, by
// collection, and whether its values grow with time.
func (r *Relay) Written() map[string]map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]map[string]bool{}
	for c, fields := range r.wrote {
		out[c] = map[string]bool{}
		for f, seq := range fields {
			out[c][f] = seq
		}
	}
	return out
}

const commitMethod = "/google.firestore.v1.Firestore/Commit"

// forward relays one call, of any kind, to the emulator; a Commit first
// takes its write slots.
func (r *Relay) forward(_ any, ss grpc.ServerStream) error {
	method, ok := grpc.MethodFromServerStream(ss)
	if !ok {
		return errors.New("fslimits: no method")
	}
	md, _ := metadata.FromIncomingContext(ss.Context())
	md = md.Copy()
	for _, h := range []string{":authority", "content-type", "user-agent"} {
		delete(md, h) // the transport's own
	}
	ctx, cancel := context.WithCancel(metadata.NewOutgoingContext(ss.Context(), md))
	defer cancel()
	var first *[]byte
	var committed func()
	if method == commitMethod {
		var req []byte
		if err := ss.RecvMsg(&req); err != nil {
			return err
		}
		var err error
		if committed, err = r.admit(req); err != nil {
			return err
		}
		first = &req
	}
	cs, err := r.backend.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, method)
	if err != nil {
		return err
	}
	sendErr := make(chan error, 1)
	go func() {
		if first != nil {
			if err := cs.SendMsg(first); err != nil {
				sendErr <- err
				return
			}
		}
		for {
			var m []byte
			if err := ss.RecvMsg(&m); err != nil {
				if errors.Is(err, io.EOF) {
					sendErr <- cs.CloseSend()
				} else {
					cancel()
					sendErr <- err
				}
				return
			}
			if err := cs.SendMsg(&m); err != nil {
				sendErr <- err
				return
			}
		}
	}()
	if h, err := cs.Header(); err == nil {
		if err := ss.SendHeader(h); err != nil {
			return err
		}
	}
	for {
		var m []byte
		err := cs.RecvMsg(&m)
		if errors.Is(err, io.EOF) {
			ss.SetTrailer(cs.Trailer())
			if committed != nil {
				committed()
			}
			return nil
		}
		if err != nil {
			ss.SetTrailer(cs.Trailer())
			return err
		}
		if err := ss.SendMsg(&m); err != nil {
			return err
		}
	}
}

// admit takes the write slots of a Commit request, recording the fields
// it writes; committed, called once the emulator committed it, makes its
// writes the documents' state.
func (r *Relay) admit(raw []byte) (committed func(), err error) {
	var req firestorepb.CommitRequest
	if err := proto.Unmarshal(raw, &req); err != nil {
		return nil, fmt.Errorf("fslimits: decode commit: %w", err)
	}
	r.commits.Add(1)
	type change struct {
		name  string
		after Doc // nil: deleted
	}
	var (
		changes []change
		slots   []slot
	)
	now := time.Now()
	r.mu.Lock()
	for _, w := range req.GetWrites() {
		name, coll := docOf(w)
		if name == "" {
			continue
		}
		before := r.docs[name]
		if w.GetDelete() != "" {
			changes = append(changes, change{name: name})
			continue
		}
		after := apply(before, w, now)
		changes = append(changes, change{name, after})
		r.record(coll, before, after)
		if r.limits.DocWritesPerSecond > 0 && contains(r.limits.DocCollections, coll) {
			slots = append(slots, slot{key: "doc " + name, interval: interval(r.limits.DocWritesPerSecond), doc: true})
		}
		if r.limits.RangeWritesPerSecond > 0 {
			for _, rg := range r.rules.Ranges(coll, before, after) {
				slots = append(slots, slot{key: "range " + rg, interval: interval(r.limits.RangeWritesPerSecond)})
			}
		}
	}
	r.mu.Unlock()
	wait, by, err := r.budget.take(slots)
	byDoc := by.doc
	if wait > 0 || err != nil {
		r.mu.Lock()
		if by.doc {
			r.hot[collectionOf(by.key)]++
		} else {
			r.hot[by.key]++
		}
		r.mu.Unlock()
	}
	switch {
	case err != nil && byDoc:
		r.docAborted.Add(1)
		return nil, err
	case err != nil:
		r.rangeAborted.Add(1)
		return nil, err
	case wait > 0 && byDoc:
		r.docDelayed.Add(1)
	case wait > 0:
		r.rangeDelayed.Add(1)
	}
	r.waited.Add(int64(wait))
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, c := range changes {
			if c.after == nil {
				delete(r.docs, c.name)
			} else {
				r.docs[c.name] = c.after
			}
		}
	}, nil
}

// record notes the fields a write changes, in collection.
func (r *Relay) record(coll string, before, after Doc) {
	m := r.wrote[coll]
	if m == nil {
		m = map[string]bool{}
		r.wrote[coll] = m
	}
	for p, l := range after {
		if b, ok := before[p]; !ok || b.sum != l.sum {
			m[p] = m[p] || l.sequential
		}
	}
}

// docOf returns the document a write names, and its collection.
func docOf(w *firestorepb.Write) (name, collection string) {
	switch {
	case w.GetUpdate() != nil:
		name = w.GetUpdate().GetName()
	case w.GetDelete() != "":
		name = w.GetDelete()
	case w.GetTransform() != nil:
		name = w.GetTransform().GetDocument()
	}
	_, path, ok := strings.Cut(name, "/documents/")
	if !ok {
		return "", ""
	}
	segs := strings.Split(path, "/")
	if len(segs) < 2 {
		return "", ""
	}
	return name, segs[len(segs)-2]
}

// apply returns the document before, changed by w at now.
func apply(before Doc, w *firestorepb.Write, now time.Time) Doc {
	after := Doc{}
	if u := w.GetUpdate(); u != nil {
		written := Doc{}
		written.flatten("", u.GetFields())
		if mask := w.GetUpdateMask(); mask != nil {
			for p, l := range before {
				after[p] = l
			}
			for _, m := range mask.GetFieldPaths() {
				m = unquote(m)
				for p := range after {
					if p == m || strings.HasPrefix(p, m+".") {
						delete(after, p)
					}
				}
				for p, l := range written {
					if p == m || strings.HasPrefix(p, m+".") {
						after[p] = l
					}
				}
			}
		} else {
			after = written
		}
	} else {
		for p, l := range before {
			after[p] = l
		}
	}
	transforms := append(w.GetUpdateTransforms(), w.GetTransform().GetFieldTransforms()...)
	for _, t := range transforms {
		p := unquote(t.GetFieldPath())
		switch {
		case t.GetSetToServerValue() == firestorepb.DocumentTransform_FieldTransform_REQUEST_TIME:
			after[p] = leafOf(&firestorepb.Value{ValueType: &firestorepb.Value_TimestampValue{TimestampValue: timestamppb.New(now)}})
		default:
			// An increment, a maximum, an array union: a new value, not
			// one that grows with time.
			l := after[p]
			l.sum++
			l.text = ""
			after[p] = l
		}
	}
	return after
}

// unquote turns a field path's quoted segments (`a`.`b-c`) into plain ones.
func unquote(p string) string { return strings.ReplaceAll(p, "`", "") }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func interval(perSecond float64) time.Duration {
	return time.Duration(float64(time.Second) / perSecond)
}

// rawCodec passes messages through as bytes.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("fslimits: cannot marshal %T", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("fslimits: cannot unmarshal into %T", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

// collectionOf is the collection of a budget's document key ("doc NAME").
func collectionOf(key string) string {
	_, c := docOf(&firestorepb.Write{Operation: &firestorepb.Write_Delete{Delete: strings.TrimPrefix(key, "doc ")}})
	return "documents of " + c
}

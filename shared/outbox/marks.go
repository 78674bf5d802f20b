package outbox

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
)

// marker records "published" marks in batches: a mark is off every
// critical path, and one batched write for many sagas costs far less CPU
// and fewer round trips than one write each. A mark that is lost (crash)
// only makes the sweep publish that event once more.
type marker struct {
	fs     *firestore.Client
	log    *slog.Logger
	window time.Duration

	once sync.Once
	in   chan mark
	done chan struct{}
	mu   sync.Mutex // guards closed
	shut bool
}

type mark struct {
	ref  *firestore.DocumentRef
	step string
}

func (mk *marker) add(ref *firestore.DocumentRef, step string) {
	mk.once.Do(func() {
		mk.in = make(chan mark, 1024)
		mk.done = make(chan struct{})
		go mk.loop()
	})
	mk.mu.Lock()
	defer mk.mu.Unlock()
	if !mk.shut {
		mk.in <- mark{ref, step}
	}
}

// loop collects the marks of one window and writes them.
func (mk *marker) loop() {
	defer close(mk.done)
	for first := range mk.in {
		batch := map[string]*pendingMark{first.ref.Path: {ref: first.ref, steps: []any{first.step}}}
		timeout := time.After(mk.window)
	collect:
		for len(batch) < 100 {
			select {
			case m, ok := <-mk.in:
				if !ok {
					break collect
				}
				if p := batch[m.ref.Path]; p != nil {
					p.steps = append(p.steps, m.step)
				} else {
					batch[m.ref.Path] = &pendingMark{ref: m.ref, steps: []any{m.step}}
				}
			case <-timeout:
				break collect
			}
		}
		mk.write(batch)
	}
}

type pendingMark struct {
	ref   *firestore.DocumentRef
	steps []any
}

func (mk *marker) write(batch map[string]*pendingMark) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bw := mk.fs.BulkWriter(ctx)
	var jobs []*firestore.BulkWriterJob
	for _, p := range batch {
		j, err := bw.Update(p.ref, []firestore.Update{{Path: FieldPending, Value: firestore.ArrayRemove(p.steps...)}})
		if err != nil {
			mk.log.Warn("mark events published", "document", p.ref.Path, "error", err.Error())
			continue
		}
		jobs = append(jobs, j)
	}
	bw.End()
	for _, j := range jobs {
		if _, err := j.Results(); err != nil {
			mk.log.Warn("mark events published; the outbox sweep will publish them once more", "error", err.Error())
		}
	}
}

// close writes what is pending and stops.
func (mk *marker) close() {
	mk.mu.Lock()
	started := mk.in != nil
	if started && !mk.shut {
		mk.shut = true
		close(mk.in)
	}
	mk.mu.Unlock()
	if started {
		<-mk.done
	}
}

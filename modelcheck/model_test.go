// Package modelcheck checks the saga's protocol exhaustively: it runs the
// three services' own use cases, step tables and domain (through their
// in-memory adapters) along every order of delivery of one scenario's
// events, with duplicates, losses, crashes between commit and publish,
// publishes lost after their commit, replays, timeouts and sweeps at every
// point, and checks the contract's guarantees (docs/contract.md) on every path
// once the faults end. It has no rule of its own (TestNoRuleIsRepeated).
//
// go test ./modelcheck runs the bounded check of make test;
// make check-model runs it deeper (-model-depth=deep).
package modelcheck

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/saga"
)

var depthFlag = flag.String("model-depth", "quick", "quick (make test) or deep (make check-model)")

// depths are the faults each path may inject: for each depth, the budgets
// checked for one order, and for two. Two orders multiply the paths, so
// the quick check takes each kind of fault on its own there.
var depths = map[string]struct{ one, two []budget }{
	"quick": {
		one: []budget{{Dups: 1, Crashes: 1, Losses: 1, Drops: 1, Ticks: 1, Waits: 1, Retries: 1}},
		two: []budget{{Dups: 1, Ticks: 1}, {Crashes: 1, Ticks: 1}, {Losses: 1, Ticks: 1}, {Drops: 1, Ticks: 1}, {Drops: 1, Waits: 1}, {Retries: 1, Ticks: 1}},
	},
	"deep": {
		one: []budget{{Dups: 2, Crashes: 2, Losses: 2, Drops: 2, Ticks: 2, Waits: 1, Retries: 1}},
		two: []budget{{Dups: 1, Crashes: 1, Losses: 1, Drops: 1, Ticks: 1, Waits: 1, Retries: 1}},
	},
}

var scenarios = []scenario{
	{name: "one order", shards: 1,
		balances: map[string]int64{"u1": 100},
		tickets:  map[string][2]int64{"t1": {10, 1}},
		orders:   []placement{{Key: "k1", User: "u1", Ticket: "t1", Quantity: 1, Price: 10}}},
	{name: "two orders of one user, points for one", shards: 1,
		balances: map[string]int64{"u1": 15},
		tickets:  map[string][2]int64{"t1": {10, 2}},
		orders: []placement{{Key: "k1", User: "u1", Ticket: "t1", Quantity: 1, Price: 10},
			{Key: "k2", User: "u1", Ticket: "t1", Quantity: 1, Price: 10}}},
	{name: "two users, the last ticket, two shards", shards: 2,
		balances: map[string]int64{"u1": 100, "u2": 100},
		tickets:  map[string][2]int64{"t1": {10, 1}},
		orders: []placement{{Key: "k1", User: "u1", Ticket: "t1", Quantity: 1, Price: 10},
			{Key: "k2", User: "u2", Ticket: "t1", Quantity: 1, Price: 10}}},
}

// move is one step of a path.
type move struct {
	label string
	apply func(w *world) (ok bool) // false: the move is the same as another
}

// moves are the steps that can come next in w.
func (w *world) moves(name func(event.Message) string) []move {
	var out []move
	for i, id := range w.placed {
		p := w.sc.orders[i]
		what := fmt.Sprintf("POST /orders #%d (%s buys %d×%s for %d, key %s)", i+1, p.User, p.Quantity, p.Ticket, p.Price, p.Key)
		switch {
		case id == "":
			out = append(out, move{what, func(w *world) bool { w.place(i); return true }})
			out = append(out, w.publishFaults(what+", crashing before its publish", what+", its publish lost", func(w *world) { w.place(i) })...)
		case w.left.Retries > 0:
			if _, done := w.answers[id]; !done {
				out = append(out, move{"the buyer retries " + what, func(w *world) bool { w.left.Retries--; w.place(i); return true }})
			}
		}
	}
	seen := map[string]bool{}
	for i, d := range w.flight {
		k := d.To + name(d.Msg) + fmt.Sprint(d.Attempts)
		if seen[k] {
			continue
		}
		seen[k] = true
		what := fmt.Sprintf("%s → %s", name(d.Msg), d.To)
		if d.Attempts > 0 {
			what += fmt.Sprintf(" (attempt %d)", d.Attempts+1)
		}
		out = append(out, move{"deliver " + what, func(w *world) bool { w.deliver(i, false); return true }})
		out = append(out, w.publishFaults("deliver "+what+", crashing before its publish", "deliver "+what+", its step's publish lost",
			func(w *world) { w.deliver(i, false) })...)
		if w.left.Dups > 0 {
			out = append(out, move{"deliver " + what + ", and Pub/Sub will deliver it again", func(w *world) bool {
				w.left.Dups--
				w.deliver(i, true)
				return true
			}})
		}
		if w.left.Losses > 0 {
			out = append(out, move{"lose " + what + " to the dead-letter topic", func(w *world) bool {
				w.left.Losses--
				w.flight = append(w.flight[:i:i], w.flight[i+1:]...)
				return true
			}})
		}
	}
	out = append(out, move{"the sweep runs", func(w *world) bool { w.sweep(); return true }})
	out = append(out, w.publishFaults("the sweep runs, crashing before its first publish", "the sweep runs, its first publish lost",
		func(w *world) { w.sweep() })...)
	if w.left.Waits > 0 && !w.allTerminal() {
		out = append(out, move{fmt.Sprintf("%s pass (a pending order's first replay is due)", w.wait), func(w *world) bool {
			w.left.Waits--
			w.elapsed += w.wait
			return true
		}})
	}
	if w.left.Ticks > 0 && !w.allTerminal() {
		out = append(out, move{fmt.Sprintf("%s pass (past the timeout and the longest wait between replays)", w.tick), func(w *world) bool {
			w.left.Ticks--
			w.elapsed += w.tick
			return true
		}})
	}
	return out
}

// publishFaults are act with its first publish failing after the commit
// (crashed: the publisher sees the error) or lost unseen (dropped), while
// the budget for each lasts. A variant whose act published nothing is
// the same as act alone, and is not a move of its own.
func (w *world) publishFaults(crashed, dropped string, act func(w *world)) []move {
	var out []move
	if w.left.Crashes > 0 {
		out = append(out, move{crashed, func(w *world) bool { w.left.Crashes--; w.crash = true; act(w); return !w.crash }})
	}
	if w.left.Drops > 0 {
		out = append(out, move{dropped, func(w *world) bool { w.left.Drops--; w.drop = true; act(w); return !w.drop }})
	}
	return out
}

// checker explores every path from a scenario's start.
type checker struct {
	seen       map[[16]byte]int // state → the shortest depth it was reached at
	summaries  map[string]string
	states     int
	paths      int
	moves      int
	failure    []string // the shortest path that broke an invariant
	failedWith string
}

func (c *checker) summary(m event.Message) string {
	k := m.EventID + m.Attributes[saga.AttrReplay]
	s, ok := c.summaries[k]
	if !ok {
		s = describe(m)
		c.summaries[k] = s
	}
	return s
}

func (c *checker) explore(w *world, path []string) {
	key := sha256.Sum256([]byte(w.key(c.summary)))
	var k [16]byte
	copy(k[:], key[:16])
	if d, ok := c.seen[k]; ok && d <= len(path) {
		return
	}
	if c.failure != nil && len(path) >= len(c.failure) {
		return // a shorter counterexample is known
	}
	if _, ok := c.seen[k]; !ok {
		c.states++
	}
	c.seen[k] = len(path)
	if w.broken != "" {
		c.fail(w, path, w.broken)
		return
	}
	if len(w.flight) == 0 && w.allPlaced() {
		c.paths++
		if problem := w.clone().quiet(); problem != "" {
			c.fail(w, append(path, "every fault ends: the sweep runs, time passes, every message is delivered"), problem)
			return
		}
	}
	for _, m := range w.moves(c.summary) {
		next := w.clone()
		if !m.apply(next) {
			continue
		}
		c.moves++
		next.observe()
		c.explore(next, append(path[:len(path):len(path)], m.label))
	}
}

// fail keeps a broken invariant and its path if the path is the shortest
// yet, with each order's id shown as its placement.
func (c *checker) fail(w *world, path []string, problem string) {
	if c.failure != nil && len(path) >= len(c.failure) {
		return
	}
	var names []string
	for i, id := range w.placed {
		if id != "" {
			names = append(names, id, fmt.Sprintf("order #%d", i+1))
		}
	}
	r := strings.NewReplacer(names...)
	c.failure = make([]string, len(path))
	for i, step := range path {
		c.failure[i] = r.Replace(step)
	}
	c.failedWith = r.Replace(problem)
}

// printout is a failing path as a readable event sequence.
func (c *checker) printout(sc scenario) string {
	var b strings.Builder
	fmt.Fprintf(&b, "invariant broken in %q: %s\nshortest path (%d steps):\n", sc.name, c.failedWith, len(c.failure))
	for i, step := range c.failure {
		fmt.Fprintf(&b, "%3d. %s\n", i+1, step)
	}
	return b.String()
}

// TestModel checks every path of every scenario at the chosen depth.
func TestModel(t *testing.T) {
	depth, ok := depths[*depthFlag]
	if !ok {
		t.Fatalf("-model-depth=%s: want quick or deep", *depthFlag)
	}
	debug.SetGCPercent(400)
	for _, sc := range scenarios {
		budgets := depth.one
		if len(sc.orders) > 1 {
			budgets = depth.two
		}
		for _, left := range budgets {
			t.Run(fmt.Sprintf("%s/%+v", sc.name, left), func(t *testing.T) {
				t.Parallel()
				ids := 0
				w, err := newWorld(context.Background(), &sc, left, &ids)
				if err != nil {
					t.Fatal(err)
				}
				c := &checker{seen: map[[16]byte]int{}, summaries: map[string]string{}}
				start := time.Now()
				c.explore(w, nil)
				t.Logf("%d distinct states, %d quiet paths checked, %d moves, in %s",
					c.states, c.paths, c.moves, time.Since(start).Round(time.Millisecond))
				if c.failure != nil {
					t.Fatal(c.printout(sc))
				}
				if c.paths == 0 {
					t.Fatal("no path reached a quiet state: the check checked nothing")
				}
			})
		}
	}
}

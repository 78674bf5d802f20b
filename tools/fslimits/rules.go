// Package fslimits gives the local stack two limits of production Firestore
// that the emulator does not have, as a relay in front of it: a write rate
// per document (about one sustained write per second) and a write rate per
// sequentially indexed key range (500 writes per second: an index on a value
// that grows with time puts every new entry at the end of one range). Both
// are documented (docs/capacity.md, Sources); the emulator commits any
// number of writes to one document or one index range per second, so
// without this a design that would stall in production passes every local
// test.
//
// The relay forwards every call of the Firestore API unchanged; a Commit
// first takes a write slot on each budgeted document it writes and on each
// sequential index range its writes add an entry to. It waits for the
// slots, so the commit comes later, as production's would behind a busy
// document or range, or, when the wait would pass a second, fails with
// ABORTED "Too much contention", production's error, which the client
// library answers by running the transaction again. Which index ranges a
// write hits follows from infra/indexes.json, the declaration the deploy
// applies: its single-field exemptions and composite indexes, with the
// bucket field that splits a range. The same rules check the declaration
// against the fields the services really write (Problems).
package fslimits

import (
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/protobuf/proto"

	"github.com/ticketsaga/saga/infra"
)

// Rules are what infra/indexes.json says about the indexes of each
// collection.
type Rules struct {
	exempt     map[string][]string      // collection → field paths without single-field indexes
	composites map[string][]infra.Index // collection → its composite indexes
	highWrite  map[string]bool
	bucket     string
}

// NewRules reads the declaration.
func NewRules(d infra.Firestore) *Rules {
	r := &Rules{exempt: map[string][]string{}, composites: map[string][]infra.Index{}, highWrite: map[string]bool{}, bucket: d.Bucket}
	for _, e := range d.Exempt {
		r.exempt[e.Collection] = append(r.exempt[e.Collection], e.Field)
	}
	for _, ix := range d.Indexes {
		r.composites[ix.Collection] = append(r.composites[ix.Collection], ix)
	}
	for _, c := range d.HighWrite {
		r.highWrite[c] = true
	}
	return r
}

// exempted: path or a map holding it has its single-field indexes off.
func (r *Rules) exempted(collection, path string) bool {
	for _, e := range r.exempt[collection] {
		if path == e || strings.HasPrefix(path, e+".") {
			return true
		}
	}
	return false
}

// leaf is one field of a document as the rules need it: whether its value
// grows with time, a digest to tell a change, and the value itself when it
// is short (a composite index's leading fields name its range by them).
type leaf struct {
	sequential bool
	sum        uint64
	text       string
}

// Doc is a document's fields, flattened: map fields into their subfields,
// anything else (arrays included) a leaf at its path.
type Doc map[string]leaf

// flatten adds fields under prefix to d.
func (d Doc) flatten(prefix string, fields map[string]*firestorepb.Value) {
	for name, v := range fields {
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		if m := v.GetMapValue(); m != nil && len(m.Fields) > 0 {
			d.flatten(path, m.Fields)
			continue
		}
		d[path] = leafOf(v)
	}
}

func leafOf(v *firestorepb.Value) leaf {
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(v)
	h := fnv.New64a()
	h.Write(b)
	l := leaf{sequential: Sequential(v), sum: h.Sum64()}
	switch x := v.GetValueType().(type) {
	case *firestorepb.Value_StringValue:
		l.text = strconv.Quote(x.StringValue)
	case *firestorepb.Value_IntegerValue:
		l.text = strconv.FormatInt(x.IntegerValue, 10)
	case *firestorepb.Value_BooleanValue:
		l.text = strconv.FormatBool(x.BooleanValue)
	default:
		l.text = fmt.Sprintf("#%x", l.sum)
	}
	return l
}

// Sequential reports whether an index on v orders entries by time: a
// timestamp, or an array or map that holds one (an array's entries, and a
// map's, are ordered by what they hold).
func Sequential(v *firestorepb.Value) bool {
	switch x := v.GetValueType().(type) {
	case *firestorepb.Value_TimestampValue:
		return true
	case *firestorepb.Value_ArrayValue:
		return slices.ContainsFunc(x.ArrayValue.GetValues(), Sequential)
	case *firestorepb.Value_MapValue:
		for _, f := range x.MapValue.GetFields() {
			if Sequential(f) {
				return true
			}
		}
	}
	return false
}

// Ranges returns the sequential index ranges of collection that a write
// changing a document from before to after adds an entry to: a field whose
// value grows with time, changed, in its single-field index (unless
// exempted) or in a composite index, where the range is named by the
// index's fields before it (one range for all the collection, unless a
// bucket field splits it).
func (r *Rules) Ranges(collection string, before, after Doc) []string {
	changed := map[string]bool{}
	for p, l := range after {
		if b, ok := before[p]; !ok || b.sum != l.sum {
			changed[p] = true
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			changed[p] = true
		}
	}
	var out []string
	for p := range changed {
		l, ok := after[p]
		if !ok || !l.sequential {
			continue
		}
		// The field's own index, and the whole-map index of every map
		// holding it.
		for q := p; q != ""; q = parent(q) {
			if !r.exempted(collection, q) {
				out = append(out, collection+"/"+q)
			}
		}
	}
	for _, ix := range r.composites[collection] {
		touched := slices.ContainsFunc(ix.Fields, func(f string) bool { return changedUnder(changed, f) })
		// A composite index holds only the documents that have every one
		// of its fields.
		complete := !slices.ContainsFunc(ix.Fields, func(f string) bool { return !hasUnder(after, f) })
		if !touched || !complete {
			continue
		}
		for i, f := range ix.Fields {
			if !sequentialUnder(after, f) {
				continue
			}
			key := collection + "/(" + strings.Join(ix.Fields, ",") + ")"
			for _, pf := range ix.Fields[:i] {
				key += "/" + pf + "=" + after[pf].text
			}
			out = append(out, key)
			break
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func parent(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

func changedUnder(changed map[string]bool, f string) bool {
	for p := range changed {
		if p == f || strings.HasPrefix(p, f+".") {
			return true
		}
	}
	return false
}

func sequentialUnder(d Doc, f string) bool {
	for p, l := range d {
		if (p == f || strings.HasPrefix(p, f+".")) && l.sequential {
			return true
		}
	}
	return false
}

// Problem is an index the declaration keeps that puts a high-write
// collection's writes in one sequential range.
type Problem struct {
	Collection, Field, Index string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s.%s: %s orders its entries by time, with no %s in front: every write lands in one index range (500 writes/s)",
		p.Collection, p.Field, p.Index, "bucket")
}

// Problems checks the declaration against the fields the services write
// (collection → field path → whether its values grow with time): every
// time-ordered field of a high-write collection must be exempted from
// single-field indexing, and follow the bucket field in every composite
// index that holds it.
func (r *Rules) Problems(written map[string]map[string]bool) []Problem {
	var out []Problem
	for _, c := range slices.Sorted(maps.Keys(written)) {
		if !r.highWrite[c] {
			continue
		}
		for _, p := range slices.Sorted(maps.Keys(written[c])) {
			if !written[c][p] {
				continue
			}
			for q := p; q != ""; q = parent(q) {
				if !r.exempted(c, q) {
					out = append(out, Problem{Collection: c, Field: q, Index: "its single-field index"})
				}
			}
			for _, ix := range r.composites[c] {
				for i, f := range ix.Fields {
					if p == f || strings.HasPrefix(p, f+".") {
						if !slices.Contains(ix.Fields[:i], r.bucket) || r.bucket == "" {
							out = append(out, Problem{Collection: c, Field: f, Index: "composite index (" + strings.Join(ix.Fields, ", ") + ")"})
						}
						break
					}
				}
			}
		}
	}
	return out
}

// hasUnder reports whether d has path f, or fields under it (a map).
func hasUnder(d Doc, f string) bool {
	for p := range d {
		if p == f || strings.HasPrefix(p, f+".") {
			return true
		}
	}
	return false
}

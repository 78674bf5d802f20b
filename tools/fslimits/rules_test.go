package fslimits

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ticketsaga/saga/infra"
)

func ts(t time.Time) *firestorepb.Value {
	return &firestorepb.Value{ValueType: &firestorepb.Value_TimestampValue{TimestampValue: timestamppb.New(t)}}
}

func str(s string) *firestorepb.Value {
	return &firestorepb.Value{ValueType: &firestorepb.Value_StringValue{StringValue: s}}
}

func integer(n int64) *firestorepb.Value {
	return &firestorepb.Value{ValueType: &firestorepb.Value_IntegerValue{IntegerValue: n}}
}

func doc(fields map[string]*firestorepb.Value) Doc {
	d := Doc{}
	d.flatten("", fields)
	return d
}

var testDecl = infra.Firestore{
	Bucket:    "bucket",
	HighWrite: []string{"orders"},
	Exempt:    []infra.Exemption{{Collection: "orders", Field: "created_at"}, {Collection: "orders", Field: "history"}},
	Indexes: []infra.Index{
		{Collection: "orders", Fields: []string{"bucket", "status", "created_at"}},
		{Collection: "orders", Fields: []string{"status", "updated_at"}},
	},
}

// TestRanges: a time-ordered field, changed, adds an entry to its
// single-field index unless exempted, and to each composite index holding
// it, in the range its leading fields name; a bucket in front splits it.
func TestRanges(t *testing.T) {
	t.Parallel()
	r := NewRules(testDecl)
	now := time.Now()
	created := doc(map[string]*firestorepb.Value{"bucket": integer(3), "status": str("pending"), "created_at": ts(now), "updated_at": ts(now),
		"history": {ValueType: &firestorepb.Value_ArrayValue{ArrayValue: &firestorepb.ArrayValue{Values: []*firestorepb.Value{
			{ValueType: &firestorepb.Value_MapValue{MapValue: &firestorepb.MapValue{Fields: map[string]*firestorepb.Value{"at": ts(now)}}}}}}}}})
	got := strings.Join(r.Ranges("orders", nil, created), " | ")
	want := `orders/(bucket,status,created_at)/bucket=3/status="pending" | orders/(status,updated_at)/status="pending" | orders/updated_at`
	if got != want {
		t.Errorf("create:\n got %s\nwant %s", got, want)
	}
	// Settling changes the status and updated_at, not created_at: the
	// bucketed index gets an entry in the completed range.
	settled := doc(map[string]*firestorepb.Value{"bucket": integer(3), "status": str("completed"), "created_at": ts(now), "updated_at": ts(now.Add(time.Second))})
	if got := strings.Join(r.Ranges("orders", created, settled), " | "); !strings.Contains(got, `bucket=3/status="completed"`) {
		t.Errorf("settle: %s", got)
	}
	// A write that changes no time-ordered field adds no such entry.
	same := doc(map[string]*firestorepb.Value{"bucket": integer(3), "status": str("completed"), "created_at": ts(now), "updated_at": ts(now.Add(time.Second)), "reason": str("x")})
	if got := r.Ranges("orders", settled, same); len(got) != 0 {
		t.Errorf("no time changed: %v", got)
	}
	// A composite index holds only the documents that have all its
	// fields: an order written without a bucket is not in the bucketed one.
	unbucketed := doc(map[string]*firestorepb.Value{"status": str("pending"), "created_at": ts(now)})
	if got := strings.Join(r.Ranges("orders", nil, unbucketed), " | "); strings.Contains(got, "bucket") {
		t.Errorf("an order without a bucket: %s", got)
	}
	// Another collection has the default: every field indexed.
	if got := r.Ranges("accounts", nil, doc(map[string]*firestorepb.Value{"balance": integer(5), "seen_at": ts(now)})); len(got) != 1 || got[0] != "accounts/seen_at" {
		t.Errorf("accounts: %v", got)
	}
}

// TestProblemsCatchesAPlantedSequentialField: the declaration check
// passes what it exempts or buckets, and fails a time-ordered field of a
// high-write collection that stays indexed, as a single field or behind no
// bucket.
func TestProblemsCatchesAPlantedSequentialField(t *testing.T) {
	t.Parallel()
	r := NewRules(testDecl)
	written := map[string]map[string]bool{"orders": {"created_at": true, "history": true, "status": false, "bucket": false},
		"reconcile_runs": {"started_at": true}} // not high-write
	if p := r.Problems(written); len(p) != 0 {
		t.Fatalf("clean declaration: %v", p)
	}
	written["orders"]["planted_at"] = true
	p := r.Problems(written)
	if len(p) != 1 || p[0].Field != "planted_at" || !strings.Contains(p[0].String(), "single-field") {
		t.Fatalf("planted field: %v", p)
	}
	// updated_at: exempted from single-field indexing but kept in a
	// composite with no bucket in front.
	delete(written["orders"], "planted_at")
	written["orders"]["updated_at"] = true
	p = r.Problems(written)
	if len(p) != 2 || !strings.Contains(p[1].String(), "composite index (status, updated_at)") {
		t.Fatalf("updated_at: %v", p)
	}
}

// TestTheDeclarationBeforeBucketsFails: the index declaration as it was
// before the buckets and exemptions (2026-11-30) fails the check on the
// time fields the services write, and today's passes it.
func TestTheDeclarationBeforeBucketsFails(t *testing.T) {
	t.Parallel()
	now, err := infra.FirestoreDeclaration()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("testdata/indexes-2026-11-30.json")
	if err != nil {
		t.Fatal(err)
	}
	var before infra.Firestore
	if err := json.Unmarshal(raw, &before); err != nil {
		t.Fatal(err)
	}
	before.HighWrite = now.HighWrite // it did not say; the collections are the same
	// What a completed, a stopped and a failed-push order write (e2e's
	// TestIndexDeclarationCoversWhatTheServicesWrite sees it done).
	written := map[string]map[string]bool{
		"orders":        {"created_at": true, "updated_at": true, "history": true, "next_replay": true, "stopped_at": true, "status": false, "bucket": false},
		"point_sagas":   {"updated_at": true, "state": false},
		"ticket_sagas":  {"updated_at": true, "state": false},
		"push_failures": {"last_at": true, "expire_at": true},
	}
	if p := NewRules(now).Problems(written); len(p) != 0 {
		t.Errorf("today's declaration: %v", p)
	}
	p := NewRules(before).Problems(written)
	var got []string
	for _, pr := range p {
		got = append(got, pr.Collection+"."+pr.Field)
	}
	for _, want := range []string{"orders.created_at", "orders.updated_at", "orders.history", "orders.next_replay", "point_sagas.updated_at", "push_failures.expire_at"} {
		if !slices.Contains(got, want) {
			t.Errorf("the declaration before buckets: %v, want %s refused", got, want)
		}
	}
}

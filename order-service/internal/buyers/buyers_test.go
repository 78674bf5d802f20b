package buyers

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"firebase.google.com/go/v4/auth"
)

// TestSharedVerificationOutlivesItsFirstCaller: two requests with one
// token share one verification; the first caller hanging up mid-way
// leaves it running, and the second gets the uid, not an error.
func TestSharedVerificationOutlivesItsFirstCaller(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}, 2), make(chan struct{})
	calls := 0
	v := &Verifier{emulator: true, CheckEvery: time.Minute, users: map[string]userRecord{}, tokens: map[[32]byte]verified{},
		verify: func(ctx context.Context, token string) (*auth.Token, error) {
			calls++
			started <- struct{}{}
			select {
			case <-release:
				return &auth.Token{UID: "alice", Expires: time.Now().Add(time.Hour).Unix()}, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}}
	r := httptest.NewRequest("POST", "/orders", nil)
	r.Header.Set("Authorization", "Bearer the-same-token")

	leaving, leave := context.WithCancel(context.Background())
	type result struct {
		uid string
		err error
	}
	first, second := make(chan result), make(chan result)
	go func() { uid, err := v.Authenticate(leaving, r); first <- result{uid, err} }()
	<-started
	go func() { uid, err := v.Authenticate(context.Background(), r); second <- result{uid, err} }()
	leave()
	if got := <-first; got.err == nil {
		t.Errorf("the caller that hung up got %q, want its context's error", got.uid)
	}
	close(release)
	if got := <-second; got.err != nil || got.uid != "alice" {
		t.Errorf("the caller beside one that hung up: %q, %v; want alice", got.uid, got.err)
	}
	if calls != 1 {
		t.Errorf("%d verifications, want 1 shared", calls)
	}
	// The result is remembered: no new verification.
	if uid, err := v.Authenticate(context.Background(), r); err != nil || uid != "alice" || calls != 1 {
		t.Errorf("again: %q, %v after %d verifications", uid, err, calls)
	}
}

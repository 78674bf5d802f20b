package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/ticketsaga/saga/shared/deadletter"
	"github.com/ticketsaga/saga/shared/push"
	"github.com/ticketsaga/saga/shared/saga"
	"github.com/ticketsaga/saga/tools/authemu"
)

// screenshotsTo also writes the pages' screenshots there (docs/pages.md's
// pictures: go test ./e2e -run TestPages -screenshots=../docs).
var screenshotsTo = flag.String("screenshots", "", "also save the pages' screenshots in this folder")

// chromium finds the headless Chromium the browser tests drive: $CHROMIUM,
// else Debian's chromium-headless-shell, else chromium.
func chromium() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium-headless-shell", "chromium", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("the browser tests need Chromium: `make browser` installs Debian's chromium-headless-shell " +
		"(or set CHROMIUM to a Chromium binary)")
}

// browser is one headless Chromium whose tabs may talk to the allowed
// hosts only: every other request is recorded and fails the test.
type browser struct {
	ctx     context.Context
	allowed map[string]bool
	mu      sync.Mutex
	strays  []string
}

func newBrowser(t *testing.T, allowed ...string) *browser {
	t.Helper()
	path, err := chromium()
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1200, 900),
		// The machine is offline: no background calls home.
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{ctx: ctx, allowed: map[string]bool{}}
	for _, h := range allowed {
		b.allowed[h] = true
	}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	t.Cleanup(func() {
		if strays := b.strayRequests(); len(strays) > 0 {
			t.Errorf("the pages made requests outside the local stack:\n  %s", strings.Join(strays, "\n  "))
		}
	})
	return b
}

// watch records the tab's requests to hosts that are not allowed.
func (b *browser) watch(t *testing.T, tab context.Context) {
	t.Helper()
	err := chromedp.Listen(tab, func(ev any) {
		req, ok := ev.(*network.EventRequestWillBeSent)
		if !ok {
			return
		}
		u, err := url.Parse(req.Request.URL)
		if err != nil || (u.Scheme != "data" && u.Scheme != "about" && !b.allowed[u.Host]) {
			b.mu.Lock()
			b.strays = append(b.strays, req.Request.URL)
			b.mu.Unlock()
		}
	})
	if err == nil {
		_, err = chromedp.Call(tab, network.Enable, network.EnableParams{})
	}
	if err != nil {
		t.Fatalf("watch the tab's requests: %v", err)
	}
}

func (b *browser) strayRequests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.strays...)
}

// tab opens another tab of the same browser (it shares the sign-in).
func (b *browser) tab(t *testing.T) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(b.ctx)
	t.Cleanup(cancel)
	b.watch(t, tab)
	return tab
}

// inTab runs steps in tab, bounded in time, failing the test with what
// and the page's text.
func inTab(t *testing.T, tab context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		page, _ := chromedp.Run(tab, chromedp.TextContent(chromedp.CSS("main")))
		t.Fatalf("%s: %v\nthe page says:\n%s", what, err, page)
	}
}

// value runs a step that answers, in tab.
func value[T any](t *testing.T, tab context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 45*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// waitText waits until the element is shown and its text contains want.
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	poll := chromedp.Poll[bool](fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && !e.closest("[hidden]") && e.textContent.includes(%q); })()`, sel, want),
		chromedp.WithPollingInterval(100*time.Millisecond))
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := poll(ctx, t)
		if err != nil {
			return fmt.Errorf("wait for %q in %s: %w", want, sel, err)
		}
		return nil
	})
}

func css(sel string, args ...any) chromedp.CSS { return chromedp.CSS(fmt.Sprintf(sel, args...)) }

// readmeShots are the screenshots docs/ shows.
var readmeShots = map[string]bool{"buyer-sold-out.png": true, "buyer-page-phone.png": true, "operator-timeline.png": true}

// screenshot saves the tab's full page in the test's artifacts (and in
// -screenshots).
func screenshot(t *testing.T, tab context.Context, name string) {
	t.Helper()
	png := value(t, tab, "screenshot "+name, chromedp.FullScreenshot(100))
	dirs := []string{t.ArtifactDir()}
	if *screenshotsTo != "" && readmeShots[name] {
		dirs = append(dirs, *screenshotsTo)
	}
	for _, dir := range dirs {
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPagesInABrowser drives both pages in a real headless Chromium against
// a stack on the emulators: a buyer signs in, buys a ticket and sees it
// completed and the new balance; buys the last seat a rival has just taken
// and sees "sold out" and the points back; sees the purchase from a second
// tab. An operator sees a dead letter the test produced, redrives it to the
// subscription that failed, and sees the order complete. The pages may talk
// to the stack only.
func TestPagesInABrowser(t *testing.T) {
	t.Parallel()
	// A long timeout: the held order waits for the operator, not the sweep.
	s := startStack(t, stackOptions{timeout: 10 * time.Minute})
	ctx := context.Background()
	buyer, rival := "browser-buyer", uniq("rival")
	concert, lastSeat := uniq("concert"), uniq("last-seat")
	if err := s.buyers.CreateUser(ctx, buyer); err != nil {
		t.Fatal(err)
	}
	s.seedAccount(t, buyer, 10000)
	s.seedAccount(t, rival, 10000)
	s.seedTicket(t, concert, 2000, 5)
	s.seedTicket(t, lastSeat, 1500, 1)

	orderURL, _ := url.Parse(s.order)
	b := newBrowser(t, orderURL.Host, os.Getenv("FIREBASE_AUTH_EMULATOR_HOST"))
	shop := b.tab(t)

	// Sign in on the page, as a buyer would.
	inTab(t, shop, "sign in",
		chromedp.Navigate(s.order+"/"),
		chromedp.WaitVisible(chromedp.CSS("#sign-in-form")),
		chromedp.SetValue(chromedp.CSS("#email"), authemu.Email(buyer)),
		chromedp.SetValue(chromedp.CSS("#password"), authemu.Password),
		chromedp.Click(chromedp.CSS("#sign-in")),
		waitText("#balance", "10,000 points"),
		waitText(fmt.Sprintf(`tr[data-ticket=%q]`, lastSeat), "1,500"))

	// Buy one concert ticket: completed, 2,000 points paid.
	inTab(t, shop, "buy a ticket",
		chromedp.Click(css(`button[data-buy=%q]`, concert)),
		waitText("#order-status", "Completed"),
		waitText("#balance", "8,000 points"),
		waitText(fmt.Sprintf(`li[data-owned=%q]`, concert), "× 1"))
	screenshot(t, shop, "buyer-page.png")

	// A rival takes the last seat while the page still shows it.
	mustStatus(t, s.buy(t, rival, "?wait=30s", map[string]any{"ticket_id": lastSeat, "quantity": 1, "price": 1500}), 201)
	inTab(t, shop, "buy a sold-out ticket",
		chromedp.Click(css(`button[data-buy=%q]`, lastSeat)),
		waitText("#order-status", "Failed: Sold out"),
		waitText("#order-note", "Your 1,500 points are back."),
		waitText("#order-history", "Points given back"),
		waitText("#balance", "8,000 points"))
	screenshot(t, shop, "buyer-sold-out.png")

	// A second tab sees the first tab's purchase.
	second := b.tab(t)
	inTab(t, second, "the second tab",
		chromedp.Navigate(s.order+"/"),
		waitText(fmt.Sprintf(`li[data-owned=%q]`, concert), concert+" × 1"),
		waitText("#balance", "8,000 points"))
	inTab(t, second, "a phone's screen", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	screenshot(t, second, "buyer-page-phone.png")

	// point-service is "down" for started-order: the order's first step
	// is dead-lettered after its five attempts.
	recorder := deadletter.Recorder{FS: s.fs, Now: time.Now}
	s.deliveries.setHold(func(service string, attrs map[string]string) bool {
		if service != saga.PointService || attrs[saga.AttrEventType] != string(saga.StartedOrder) {
			return false
		}
		_ = recorder.RecordFailure(ctx, push.Message{Attributes: attrs, Subscription: "projects/x/subscriptions/point-events"},
			errors.New("firestore unavailable (held by the browser test)"))
		return true
	})
	held := s.buy(t, buyer, "?wait=0s", map[string]any{"ticket_id": concert, "quantity": 1, "price": 2000})
	mustStatus(t, held, 202)
	heldID := held.str("order_id")

	ops := b.tab(t)
	inTab(t, ops, "open the operator page",
		chromedp.Navigate(s.order+"/ops"),
		chromedp.WaitVisible(chromedp.CSS("#console")),
		chromedp.SetValue(chromedp.CSS("#older-than"), "30s"))
	group := `tr[data-group="point-events"]`
	deadline := time.Now().Add(90 * time.Second)
	for {
		inTab(t, ops, "refresh the dead letters", chromedp.Click(chromedp.CSS("#dl-refresh")))
		if n := value(t, ops, "count the groups", chromedp.Evaluate[int](`document.querySelectorAll('tr[data-group="point-events"]').length`)); n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no dead letter on the operator page within 90s")
		}
		// Pub/Sub's retry backoff runs for ~15 s before it dead-letters.
		time.Sleep(time.Second)
	}
	inTab(t, ops, "the dead letter's group",
		waitText(group, "firestore unavailable (held by the browser test)"),
		waitText(group, heldID))
	// The held order is also stuck, once it is 30 s old.
	for stuck := time.Now().Add(60 * time.Second); ; {
		inTab(t, ops, "refresh the stuck orders", chromedp.Click(chromedp.CSS("#stuck-form button")))
		if n := value(t, ops, "find the stuck order", chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll('#stuck tr[data-order=%q]').length`, heldID))); n > 0 {
			break
		}
		if time.Now().After(stuck) {
			t.Fatal("the held order is not listed as stuck within 60s")
		}
		time.Sleep(time.Second)
	}
	screenshot(t, ops, "operator-page.png")

	// point-service is well again: the operator redrives the group.
	s.deliveries.setHold(nil)
	inTab(t, ops, "redrive",
		chromedp.Click(chromedp.CSS(`button[data-redrive="point-events"]`)),
		waitText("#dl-result", "Redriven 1 to point-events."),
		waitText("#dl-summary", "No dead letters."))
	settled := time.Now().Add(45 * time.Second)
	for {
		inTab(t, ops, "the order's timeline",
			chromedp.SetValue(chromedp.CSS("#order-id"), heldID),
			chromedp.Click(chromedp.CSS("#timeline-form button")),
			waitText("#timeline-summary", "Order "+heldID))
		summary := value(t, ops, "the timeline's summary", chromedp.TextContent(chromedp.CSS("#timeline-summary")))
		if strings.Contains(summary, ": completed") {
			break
		}
		if time.Now().After(settled) {
			t.Fatalf("the redriven order did not settle within 45s: %s", summary)
		}
		time.Sleep(500 * time.Millisecond)
	}
	inTab(t, ops, "the timeline's rows", waitText("#timeline", "granted-ticket"))
	screenshot(t, ops, "operator-timeline.png")
	if got := s.orderOf(t, buyer, "/orders/"+heldID+"?wait=0s"); got.str("status") != "completed" {
		t.Errorf("the redriven order is %s, want completed", got.str("status"))
	}
}

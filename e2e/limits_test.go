package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/ticketsaga/saga/infra"
	"github.com/ticketsaga/saga/shared/platform/metrics"
	"github.com/ticketsaga/saga/tools/emulator"
)

// TestSlowClientsAreCutOff: a client that sends its headers one byte per
// second, or its body one byte per second, is disconnected within 15 s,
// and the service goes on serving.
func TestSlowClientsAreCutOff(t *testing.T) {
	t.Parallel()
	host := strings.TrimPrefix(stack.order, "http://")
	for _, tc := range []struct {
		name  string
		head  string // sent at once
		trail string // then one byte per second
	}{
		{"headers", "", "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Slow: " + strings.Repeat("a", 60)},
		{"body", "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n", strings.Repeat(" ", 100)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", host)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			start := time.Now()
			if _, err := io.WriteString(conn, tc.head); err != nil {
				t.Fatal(err)
			}
			closed := make(chan time.Duration, 1)
			go func() {
				// The server's answer, if any, then the end of the
				// connection.
				_, _ = io.Copy(io.Discard, conn)
				closed <- time.Since(start)
			}()
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for i := 0; i < len(tc.trail); i++ {
				select {
				case d := <-closed:
					if d > 15*time.Second {
						t.Fatalf("cut off after %s, want within 15 s", d)
					}
					t.Logf("slow %s: cut off after %s", tc.name, d.Round(100*time.Millisecond))
					return
				case <-tick.C: // one byte per second, as the slow client sends
				}
				if _, err := conn.Write([]byte{tc.trail[i]}); err != nil {
					d := time.Since(start)
					if d > 15*time.Second {
						t.Fatalf("cut off after %s, want within 15 s", d)
					}
					t.Logf("slow %s: cut off after %s", tc.name, d.Round(100*time.Millisecond))
					return
				}
			}
			t.Fatalf("still connected after %s", time.Since(start))
		})
	}
}

// TestLongPollsAtScale: one order-service process (GOMAXPROCS=1, as on
// Cloud Run) holds 2,000 concurrent long-polls on pending orders without
// crashing and under 256 MiB of memory; the 2,001st is answered at once
// with Retry-After (LONG_POLL_MAX); every long-poll gets its answer.
func TestLongPollsAtScale(t *testing.T) {
	t.Parallel()
	const n = 2000
	ctx := context.Background()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	project := "e2e-polls-" + hex.EncodeToString(b)
	decl, err := infra.Load()
	if err != nil {
		t.Fatal(err)
	}
	ps, err := pubsub.NewClient(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	if _, err := ps.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: "projects/" + project + "/topics/" + decl.Topic}); err != nil {
		t.Fatal(err)
	}
	fs, err := firestore.NewClient(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	buyer := uniq("poller")
	auth := stack.bearer(t, buyer)
	now := time.Now().UTC()
	bw := fs.BulkWriter(ctx)
	for i := range n + 1 {
		if _, err := bw.Create(fs.Collection("orders").Doc(fmt.Sprintf("poll-%04d", i)), map[string]any{
			"user_id": buyer, "ticket_id": "t", "quantity": 1, "price": 100, "status": "pending", "created_at": now, "updated_at": now,
		}); err != nil {
			t.Fatal(err)
		}
	}
	bw.End()

	bin := filepath.Join(t.TempDir(), "order-service")
	if out, err := exec.Command("go", "build", "-o", bin, "../order-service").CombinedOutput(); err != nil {
		t.Fatalf("build order-service: %v\n%s", err, out)
	}
	port, err := emulator.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	logs, err := os.Create(filepath.Join(os.TempDir(), "saga-"+project+".log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port), "GOOGLE_CLOUD_PROJECT="+project, "PUBSUB_TOPIC="+decl.Topic,
		"GOMAXPROCS=1", "LONG_POLL_MAX="+strconv.Itoa(n))
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// exited closes when the process has ended; exitErr says how.
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(exited) }()
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitHealthy(base, 30*time.Second); err != nil {
		t.Fatal(err)
	}

	tr := &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: n, DisableKeepAlives: true}
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	wait := 20 * time.Second
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", fmt.Sprintf("%s/orders/poll-%04d?wait=%s", base, i, wait), nil)
			req.Header.Set(auth[0], auth[1])
			res, err := client.Do(req)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			statuses[i] = res.StatusCode
		}()
	}
	held := waitLongPolls(t, base, n, 30*time.Second)
	rss, hwm := memory(t, cmd.Process.Pid)
	t.Logf("%d long-polls held: VmRSS %d MiB, VmHWM %d MiB", held, rss>>20, hwm>>20)

	// Past the cap: answered at once, with Retry-After.
	start := time.Now()
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/orders/poll-%04d?wait=%s", base, n, wait), nil)
	req.Header.Set(auth[0], auth[1])
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Retry-After") == "" || time.Since(start) > 5*time.Second {
		t.Errorf("long-poll past the cap: %d, Retry-After %q, after %s", res.StatusCode, res.Header.Get("Retry-After"), time.Since(start))
	}
	// An answer that needs no wait takes no place, so it says nothing
	// about asking again.
	req, _ = http.NewRequest("GET", base+"/orders/no-such-order?wait="+wait.String(), nil)
	req.Header.Set(auth[0], auth[1])
	if res, err = client.Do(req); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound || res.Header.Get("Retry-After") != "" {
		t.Errorf("unknown order past the cap: %d, Retry-After %q; want 404 without it", res.StatusCode, res.Header.Get("Retry-After"))
	}

	wg.Wait()
	for i, st := range statuses {
		if st != http.StatusOK {
			t.Fatalf("long-poll %d answered %d", i, st)
		}
	}
	select {
	case <-exited:
		t.Fatalf("order-service died: %v", exitErr)
	default:
	}
	_, hwm = memory(t, cmd.Process.Pid)
	if hwm > 256<<20 {
		t.Errorf("peak memory %d MiB, want under 256 MiB", hwm>>20)
	}
	t.Logf("after the %d long-polls ended: VmHWM %d MiB", n, hwm>>20)
}

func waitHealthy(base string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		res, err := http.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy after %s: %v", base, limit, err)
		}
		time.Sleep(50 * time.Millisecond) // polling for the service to come up
	}
}

// waitLongPolls waits until the service holds want long-polls (its
// /metrics gauge), and returns how many it holds.
func waitLongPolls(t *testing.T, base string, want int64, limit time.Duration) int64 {
	t.Helper()
	deadline := time.Now().Add(limit)
	var got int64
	for time.Now().Before(deadline) {
		m, err := metrics.GetSnapshot(context.Background(), base)
		if err == nil {
			if got = m.LongPolls; got >= want {
				return got
			}
		}
		time.Sleep(100 * time.Millisecond) // polling the gauge for a condition
	}
	t.Fatalf("only %d of %d long-polls held after %s", got, want, limit)
	return 0
}

// memory reads a process's resident and peak resident memory in bytes.
func memory(t *testing.T, pid int) (rss, hwm int64) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			hwm = kb << 10
		}
	}
	return rss, hwm
}

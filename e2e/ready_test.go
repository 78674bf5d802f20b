package e2e

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ticketsaga/saga/tools/authemu"
	"github.com/ticketsaga/saga/tools/emulator"
)

var readyRuns = flag.Int("ready-runs", 1, "how many fresh `make run` stacks TestMakeRunIsReadyWhenHealthy starts (make check-ready: 20)")

// TestMakeRunIsReadyWhenHealthy starts `make run` (devstack run) on free
// ports, and the moment all three /healthz answer 200 it seeds an account
// and a ticket and places an order, which must complete: the topic and
// subscriptions exist before any service reports healthy.
func TestMakeRunIsReadyWhenHealthy(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "devstack")
	if out, err := exec.Command("go", "build", "-o", bin, "../tools/cmd/devstack").CombinedOutput(); err != nil {
		t.Fatalf("build devstack: %v\n%s", err, out)
	}
	// make run builds the services first (the local stack's build, tag
	// localstack): build them once here, so that each run times the
	// start, not the compiler (minutes in a fresh clone on a busy machine).
	if out, err := exec.Command("go", "build", "-tags", "localstack", "../order-service", "../point-service", "../ticket-service").CombinedOutput(); err != nil {
		t.Fatalf("build the services: %v\n%s", err, out)
	}
	for i := range *readyRuns {
		start := time.Now()
		if err := readyOnce(t, bin, i); err != nil {
			t.Fatalf("run %d of %d: %v", i+1, *readyRuns, err)
		}
		t.Logf("run %d of %d: order completed %s after the start of make run", i+1, *readyRuns, time.Since(start).Round(100*time.Millisecond))
	}
}

func readyOnce(t *testing.T, bin string, i int) error {
	env := os.Environ()
	ports := map[string]int{}
	for _, name := range []string{"ORDER_PORT", "POINT_PORT", "TICKET_PORT", "PUBSUB_PORT", "FIRESTORE_PORT", "AUTH_PORT"} {
		p, err := emulator.FreePort()
		if err != nil {
			return err
		}
		ports[name] = p
		env = append(env, name+"="+strconv.Itoa(p))
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "run")
	cmd.Dir = ".." // the repository root, as `make run` runs it
	project := fmt.Sprintf("ready-%d", i)
	cmd.Env = append(env, "GOOGLE_CLOUD_PROJECT="+project, "PUBSUB_EMULATOR_HOST=", "FIRESTORE_EMULATOR_HOST=",
		"FIREBASE_AUTH_EMULATOR_HOST=", "FIREBASE_PROJECT=")
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Wait returns once devstack has exited, even if something it
	// started still holds its output open.
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		return err
	}
	// exited closes when the process has ended; exitErr says how.
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(exited) }()
	defer func() {
		// Ctrl-C, as a person stops it: devstack stops what it started.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}()

	url := func(name string) string { return fmt.Sprintf("http://127.0.0.1:%d", ports[name]) }
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(4 * time.Minute)
	for _, name := range []string{"ORDER_PORT", "POINT_PORT", "TICKET_PORT"} {
		for {
			if time.Now().After(deadline) {
				return fmt.Errorf("%s never healthy; make run said:\n%s", name, out.String())
			}
			select {
			case <-exited:
				return fmt.Errorf("make run exited (%v):\n%s", exitErr, out.String())
			default:
			}
			res, err := client.Get(url(name) + "/healthz")
			if err == nil {
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					break
				}
			}
			time.Sleep(20 * time.Millisecond) // polling for the moment it is healthy
		}
	}
	user, ticket := fmt.Sprintf("ready-user-%d", i), fmt.Sprintf("ready-ticket-%d", i)
	mustStatus(t, do(t, "PUT", url("POINT_PORT")+"/accounts/"+user, map[string]any{"balance": 1000}), 200)
	mustStatus(t, do(t, "PUT", url("TICKET_PORT")+"/tickets/"+ticket, map[string]any{"price": 100, "stock": 1}), 200)
	buyers := authemu.New(fmt.Sprintf("127.0.0.1:%d", ports["AUTH_PORT"]), project)
	tok, err := buyers.Token(context.Background(), user)
	if err != nil {
		return err
	}
	r := do(t, "POST", url("ORDER_PORT")+"/orders?wait=30s", order(user, ticket, 1, 100), "Authorization", "Bearer "+tok)
	if r.Status != http.StatusCreated || r.str("status") != "completed" {
		return fmt.Errorf("order sent at healthy: %d %s", r.Status, r.Raw)
	}
	return nil
}

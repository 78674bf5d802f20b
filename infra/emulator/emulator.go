// Package emulator starts and stops the Pub/Sub and Firestore emulators
// from the Google Cloud CLI's own scripts. Each runs in its own process
// group, stopped by that id: `gcloud ... start` would leave Java running.
package emulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Emulators are the two running emulators.
type Emulators struct {
	PubSubHost    string // host:port
	FirestoreHost string
	procs         []*exec.Cmd
}

// SDKRoot finds the Google Cloud CLI's installation.
func SDKRoot(ctx context.Context) (string, error) {
	if root := os.Getenv("CLOUDSDK_ROOT"); root != "" {
		return root, nil
	}
	out, err := exec.CommandContext(ctx, "gcloud", "info", "--format=value(installation.sdk_root)").Output()
	if err != nil {
		return "", fmt.Errorf("the Google Cloud CLI (gcloud) is needed for the emulators: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Start starts both emulators on 127.0.0.1 at the given ports (0 picks a
// free one) and waits until they answer. Their output goes to logs.
func Start(ctx context.Context, pubsubPort, firestorePort int, logs io.Writer) (*Emulators, error) {
	root, err := SDKRoot(ctx)
	if err != nil {
		return nil, err
	}
	pubsubBin := filepath.Join(root, "platform", "pubsub-emulator", "bin", "cloud-pubsub-emulator")
	firestoreBin := filepath.Join(root, "platform", "cloud-firestore-emulator", "cloud_firestore_emulator")
	for name, p := range map[string]string{"Pub/Sub": pubsubBin, "Firestore": firestoreBin} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("the %s emulator is missing (%s): install the Google Cloud CLI components "+
				"pubsub-emulator and cloud-firestore-emulator (Debian: google-cloud-cli-pubsub-emulator, google-cloud-cli-firestore-emulator)", name, p)
		}
	}
	if pubsubPort, err = orFree(pubsubPort); err != nil {
		return nil, err
	}
	if firestorePort, err = orFree(firestorePort); err != nil {
		return nil, err
	}
	e := &Emulators{
		PubSubHost:    net.JoinHostPort("127.0.0.1", strconv.Itoa(pubsubPort)),
		FirestoreHost: net.JoinHostPort("127.0.0.1", strconv.Itoa(firestorePort)),
	}
	for _, argv := range [][]string{
		{pubsubBin, "--host=127.0.0.1", "--port=" + strconv.Itoa(pubsubPort)},
		{firestoreBin, "start", "--host=127.0.0.1", "--port=" + strconv.Itoa(firestorePort)},
	} {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = logs, logs
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			e.Stop()
			return nil, fmt.Errorf("start %s: %w", argv[0], err)
		}
		e.procs = append(e.procs, cmd)
	}
	for _, host := range []string{e.PubSubHost, e.FirestoreHost} {
		if err := waitReady(ctx, host, 90*time.Second); err != nil {
			e.Stop()
			return nil, err
		}
	}
	return e, nil
}

// Env returns the variables that point the client libraries at e.
func (e *Emulators) Env() []string {
	return []string{"PUBSUB_EMULATOR_HOST=" + e.PubSubHost, "FIRESTORE_EMULATOR_HOST=" + e.FirestoreHost}
}

// Stop stops both emulators' process groups and waits for them.
func (e *Emulators) Stop() {
	StopGroups(e.procs, 10*time.Second)
}

// StopGroups sends SIGTERM to each command's process group, waits up to
// grace, then kills what is left.
func StopGroups(cmds []*exec.Cmd, grace time.Duration) {
	done := make(chan struct{}, len(cmds))
	for _, c := range cmds {
		if c.Process == nil {
			done <- struct{}{}
			continue
		}
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
		go func() { _ = c.Wait(); done <- struct{}{} }()
	}
	timeout := time.After(grace)
	for range cmds {
		select {
		case <-done:
		case <-timeout:
			for _, c := range cmds {
				if c.Process != nil {
					_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
				}
			}
			return
		}
	}
	// The emulators' JVMs are children of the scripts: make sure the
	// whole group is gone.
	for _, c := range cmds {
		if c.Process != nil {
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		}
	}
}

func waitReady(ctx context.Context, host string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := client.Get("http://" + host + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("emulator at %s not ready after %s: %v", host, limit, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func orFree(p int) (int, error) {
	if p != 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			return 0, fmt.Errorf("port %d is taken (is another stack running?): %w", p, err)
		}
		ln.Close()
		return p, nil
	}
	return FreePort()
}

// ErrMissing is returned by Require when the emulators are not configured.
var ErrMissing = errors.New("emulators not configured")

// Require returns the emulator hosts from the environment, or an error that
// says how to get them: integration tests fail, not skip, without them.
func Require() (pubsubHost, firestoreHost string, err error) {
	pubsubHost, firestoreHost = os.Getenv("PUBSUB_EMULATOR_HOST"), os.Getenv("FIRESTORE_EMULATOR_HOST")
	if pubsubHost == "" || firestoreHost == "" {
		return "", "", fmt.Errorf("%w: PUBSUB_EMULATOR_HOST and FIRESTORE_EMULATOR_HOST must be set; run `make test`, "+
			"which starts the emulators, or `go test -short ./...` for the unit tests alone", ErrMissing)
	}
	return pubsubHost, firestoreHost, nil
}

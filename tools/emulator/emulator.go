// Package emulator starts and stops the Pub/Sub and Firestore emulators
// from the Google Cloud CLI's own scripts, and the Firebase Auth emulator
// from the pinned firebase-tools that `make tools` installs. Each runs in
// its own process group, stopped by that id: `gcloud ... start` would leave
// Java running, and the firebase CLI runs the emulator as its child.
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

// Emulators are the running emulators.
type Emulators struct {
	PubSubHost    string // host:port
	FirestoreHost string
	AuthHost      string
	// AuthProject is the project the Auth emulator signs buyers in to:
	// its single project, whatever project the other emulators serve.
	AuthProject string
	procs       []*exec.Cmd
	dirs        []string
}

// Groups returns the emulators' process groups by name (pubsub, firestore,
// auth): each runs in its own, with the JVM or Node process its script
// starts, so a group's CPU is the emulator's (make bench measures it).
func (e *Emulators) Groups() map[string]int {
	names := []string{"pubsub", "firestore", "auth"}
	out := map[string]int{}
	for i, c := range e.procs {
		if i < len(names) && c.Process != nil {
			out[names[i]] = c.Process.Pid
		}
	}
	return out
}

// Ports are where to start the emulators; 0 picks a free port.
type Ports struct {
	PubSub, Firestore, Auth int
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

// Start starts the three emulators on 127.0.0.1 and waits until they
// answer. The Auth emulator serves authProject. Their output goes to logs.
func Start(ctx context.Context, ports Ports, authProject string, logs io.Writer) (*Emulators, error) {
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
	firebaseBin, err := FirebaseCLI()
	if err != nil {
		return nil, err
	}
	for _, p := range []*int{&ports.PubSub, &ports.Firestore, &ports.Auth} {
		if *p, err = orFree(*p); err != nil {
			return nil, err
		}
	}
	e := &Emulators{
		PubSubHost:    net.JoinHostPort("127.0.0.1", strconv.Itoa(ports.PubSub)),
		FirestoreHost: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports.Firestore)),
		AuthHost:      net.JoinHostPort("127.0.0.1", strconv.Itoa(ports.Auth)),
		AuthProject:   authProject,
	}
	authCmd, err := e.authCommand(firebaseBin, ports.Auth)
	if err != nil {
		return nil, err
	}
	for _, cmd := range []*exec.Cmd{
		exec.Command(pubsubBin, "--host=127.0.0.1", "--port="+strconv.Itoa(ports.PubSub)),
		exec.Command(firestoreBin, "start", "--host=127.0.0.1", "--port="+strconv.Itoa(ports.Firestore)),
		authCmd,
	} {
		cmd.Stdout, cmd.Stderr = logs, logs
		// Their own group, so that stopping them stops their JVMs; and
		// killed with whoever started them, should it die without
		// stopping them.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			e.Stop()
			return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
		}
		e.procs = append(e.procs, cmd)
	}
	for _, host := range []string{e.PubSubHost, e.FirestoreHost, e.AuthHost} {
		if err := waitReady(ctx, host, 90*time.Second); err != nil {
			e.Stop()
			return nil, err
		}
	}
	return e, nil
}

// authCommand is the Auth emulator alone, its UI off, in a directory of its
// own (the CLI writes its debug log there), with its hub and logging ports
// free ones, so that several stacks can run side by side.
func (e *Emulators) authCommand(firebaseBin string, port int) (*exec.Cmd, error) {
	dir, err := os.MkdirTemp("", "saga-auth-emulator-")
	if err != nil {
		return nil, err
	}
	e.dirs = append(e.dirs, dir)
	hub, err := FreePort()
	if err != nil {
		return nil, err
	}
	logging, err := FreePort()
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`{"emulators": {"auth": {"host": "127.0.0.1", "port": %d}, "hub": {"host": "127.0.0.1", "port": %d},
  "logging": {"host": "127.0.0.1", "port": %d}, "ui": {"enabled": false}}}`, port, hub, logging)
	if err := os.WriteFile(filepath.Join(dir, "firebase.json"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(firebaseBin, "emulators:start", "--only", "auth", "--project", e.AuthProject, "--config", filepath.Join(dir, "firebase.json"))
	cmd.Dir = dir
	// No update checks or usage reports: this machine may be offline.
	cmd.Env = append(os.Environ(), "NO_UPDATE_NOTIFIER=1", "CI=1")
	return cmd, nil
}

// FirebaseCLI finds the firebase CLI that `make tools` installed: in
// tools/firebase of the repository holding the working directory, or at
// $FIREBASE_BIN.
func FirebaseCLI() (string, error) {
	if bin := os.Getenv("FIREBASE_BIN"); bin != "" {
		return bin, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		bin := filepath.Join(dir, "tools", "firebase", "node_modules", ".bin", "firebase")
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(bin); err != nil {
				return "", fmt.Errorf("the Firebase Auth emulator is missing (%s): run `make tools`, which installs the pinned firebase-tools (needs Node.js 20+ and npm)", bin)
			}
			return bin, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("the Firebase Auth emulator: no go.mod above the working directory; run from the repository, or set FIREBASE_BIN")
		}
		dir = parent
	}
}

// Env returns the variables that point the client libraries at e, and the
// services at the Auth emulator's project.
func (e *Emulators) Env() []string {
	return []string{"PUBSUB_EMULATOR_HOST=" + e.PubSubHost, "FIRESTORE_EMULATOR_HOST=" + e.FirestoreHost,
		"FIREBASE_AUTH_EMULATOR_HOST=" + e.AuthHost, "FIREBASE_PROJECT=" + e.AuthProject}
}

// Stop stops the emulators' process groups and waits for them.
func (e *Emulators) Stop() {
	StopGroups(e.procs, 10*time.Second)
	for _, d := range e.dirs {
		os.RemoveAll(d)
	}
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

// Require checks that the environment points at the emulators, or returns
// an error that says how to get them: integration tests fail, not skip,
// without them.
func Require() error {
	for _, name := range []string{"PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST", "FIREBASE_PROJECT"} {
		if os.Getenv(name) == "" {
			return fmt.Errorf("%w: %s is not set; run `make test`, which starts the emulators, "+
				"or `go test -short ./...` for the unit tests alone", ErrMissing, name)
		}
	}
	return nil
}

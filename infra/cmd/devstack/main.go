// Command devstack runs the saga on this machine.
//
//	devstack run                    emulators, topic and subscriptions, the three services (make run)
//	devstack emulators -- CMD ARGS  fresh emulators on free ports around CMD (make test)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/ticketsaga/saga/infra"
	"github.com/ticketsaga/saga/infra/bootstrap"
	"github.com/ticketsaga/saga/infra/chaos"
	"github.com/ticketsaga/saga/infra/emulator"
	"github.com/ticketsaga/saga/shared/config"
	"github.com/ticketsaga/saga/shared/event"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: devstack run | devstack emulators -- CMD [ARGS]")
		os.Exit(2)
	}
	var err error
	code := 0
	switch os.Args[1] {
	case "run":
		err = run(ctx)
	case "emulators":
		code, err = withEmulators(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func envInt(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 || n > 65535 {
		return 0, fmt.Errorf("%s=%q: want a port number", name, v)
	}
	return n, nil
}

// withEmulators runs argv with fresh emulators on free ports and returns
// its exit code.
func withEmulators(ctx context.Context, argv []string) (int, error) {
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:]
	}
	if len(argv) == 0 {
		return 0, errors.New("emulators: no command given")
	}
	logPath := filepath.Join(os.TempDir(), fmt.Sprintf("saga-emulators-%d.log", os.Getpid()))
	logFile, err := os.Create(logPath)
	if err != nil {
		return 0, err
	}
	defer logFile.Close()
	fmt.Fprintf(os.Stderr, "devstack: starting emulators (log: %s)\n", logPath)
	emu, err := emulator.Start(ctx, 0, 0, logFile)
	if err != nil {
		return 0, err
	}
	defer emu.Stop()
	fmt.Fprintf(os.Stderr, "devstack: Pub/Sub at %s, Firestore at %s\n", emu.PubSubHost, emu.FirestoreHost)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), emu.Env()...)
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	return 0, err
}

type service struct {
	name string
	pkg  string
	port int
}

// run is `make run`.
func run(ctx context.Context) error {
	decl, err := infra.Load()
	if err != nil {
		return err
	}
	cfg, err := config.Load("devstack", os.Getenv)
	if err != nil {
		return err
	}
	ports := map[string]int{}
	for name, def := range map[string]int{"ORDER_PORT": 8080, "POINT_PORT": 8081, "TICKET_PORT": 8082, "PUBSUB_PORT": 8085, "FIRESTORE_PORT": 8086} {
		if ports[name], err = envInt(name, def); err != nil {
			return err
		}
	}
	services := []service{
		{event.OrderService, "./order-service", ports["ORDER_PORT"]},
		{event.PointService, "./point-service", ports["POINT_PORT"]},
		{event.TicketService, "./ticket-service", ports["TICKET_PORT"]},
	}

	bin, err := os.MkdirTemp("", "saga-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(bin)
	fmt.Println("building services...")
	for _, s := range services {
		build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(bin, s.name), s.pkg)
		build.Stdout, build.Stderr = os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build %s: %w", s.name, err)
		}
	}

	fmt.Println("starting emulators...")
	emu, err := emulator.Start(ctx, ports["PUBSUB_PORT"], ports["FIRESTORE_PORT"], emulatorLog())
	if err != nil {
		return err
	}
	defer emu.Stop()
	for _, kv := range emu.Env() {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}

	base := map[string]string{}
	var supervisors []*supervisor
	defer func() {
		for _, sv := range supervisors {
			sv.stop()
		}
	}()
	for _, s := range services {
		sv := &supervisor{name: s.name, path: filepath.Join(bin, s.name),
			env: append(os.Environ(), "PORT="+strconv.Itoa(s.port), "GOOGLE_CLOUD_PROJECT="+cfg.ProjectID, "PUBSUB_TOPIC="+decl.Topic)}
		if err := sv.start(); err != nil {
			return err
		}
		supervisors = append(supervisors, sv)
		base[s.name] = fmt.Sprintf("http://127.0.0.1:%d", s.port)
	}
	for _, s := range services {
		if err := waitHealthy(ctx, base[s.name]); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}

	ps, err := pubsub.NewClient(ctx, cfg.ProjectID)
	if err != nil {
		return err
	}
	defer ps.Close()
	if err := bootstrap.Apply(ctx, ps, cfg.ProjectID, decl, base); err != nil {
		return err
	}

	fmt.Printf(`
saga is running (project %s, Ctrl-C stops everything):
  order-service   %s   POST /orders, GET /orders/{id}
  point-service   %s   PUT|GET /accounts/{user_id}
  ticket-service  %s   PUT|GET /tickets/{ticket_id}, GET /users/{user_id}/tickets
  Pub/Sub emulator   %s   topic %s
  Firestore emulator %s
`, cfg.ProjectID, base[event.OrderService], base[event.PointService], base[event.TicketService], emu.PubSubHost, decl.Topic, emu.FirestoreHost)

	if os.Getenv("CHAOS_DUPLICATES") != "" {
		// Play the worst legal Pub/Sub: every event 1-2 extra times,
		// up to 1.5 s late.
		dup, err := chaos.Start(ctx, ps, cfg.ProjectID, decl.Topic, "chaos-duplicates", 2, 1500*time.Millisecond)
		if err != nil {
			return err
		}
		defer dup.Stop()
		fmt.Println("  CHAOS_DUPLICATES: every saga event is redelivered 1-2 extra times, up to 1.5 s late")
	}
	sweepEvery := 5 * time.Second
	if v := os.Getenv("SWEEP_INTERVAL"); v != "" {
		if sweepEvery, err = time.ParseDuration(v); err != nil || sweepEvery <= 0 {
			return fmt.Errorf("SWEEP_INTERVAL=%q: want a positive Go duration", v)
		}
	}
	go sweep(ctx, sweepEvery, []string{
		base[event.OrderService] + "/tasks/sweep", base[event.PointService] + "/tasks/outbox", base[event.TicketService] + "/tasks/outbox",
	})
	fmt.Printf("  timeout and outbox sweeps every %s (SWEEP_INTERVAL); ORDER_TIMEOUT=%s\n\n", sweepEvery, cfg.OrderTimeout)

	<-ctx.Done()
	fmt.Println("\nstopping...")
	return nil
}

// supervisor runs one service and, like Cloud Run, starts it again when it
// dies (FAULT_CRASH_AFTER_COMMIT makes that happen on purpose).
type supervisor struct {
	name, path string
	env        []string
	mu         sync.Mutex
	cmd        *exec.Cmd
	stopping   bool
	done       chan struct{}
}

func (sv *supervisor) start() error {
	sv.done = make(chan struct{})
	if err := sv.spawn(); err != nil {
		return err
	}
	go sv.watch()
	return nil
}

func (sv *supervisor) spawn() error {
	cmd := exec.Command(sv.path)
	cmd.Env = sv.env
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", sv.name, err)
	}
	sv.mu.Lock()
	sv.cmd = cmd
	sv.mu.Unlock()
	return nil
}

func (sv *supervisor) watch() {
	defer close(sv.done)
	for {
		sv.mu.Lock()
		cmd := sv.cmd
		sv.mu.Unlock()
		err := cmd.Wait()
		sv.mu.Lock()
		stopping := sv.stopping
		sv.mu.Unlock()
		if stopping {
			return
		}
		fmt.Fprintf(os.Stderr, "devstack: %s exited (%v); restarting it\n", sv.name, err)
		if err := sv.spawn(); err != nil {
			fmt.Fprintln(os.Stderr, "devstack:", err)
			return
		}
	}
}

func (sv *supervisor) stop() {
	sv.mu.Lock()
	sv.stopping = true
	cmd := sv.cmd
	sv.mu.Unlock()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-sv.done:
	case <-time.After(12 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-sv.done
	}
}

func waitHealthy(ctx context.Context, base string) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("not healthy at %s after 30s: %v", base, err)
		case <-tick.C:
		}
	}
}

// emulatorLog discards emulator chatter unless DEVSTACK_VERBOSE is set.
func emulatorLog() io.Writer {
	if os.Getenv("DEVSTACK_VERBOSE") != "" {
		return os.Stderr
	}
	return io.Discard
}

// sweep plays Cloud Scheduler: it triggers the task endpoints every
// interval.
func sweep(ctx context.Context, every time.Duration, urls []string) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	client := &http.Client{Timeout: 30 * time.Second}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, u := range urls {
			resp, err := client.Post(u, "application/json", nil)
			if err != nil {
				fmt.Fprintf(os.Stderr, "devstack: sweep %s: %v\n", u, err)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				fmt.Fprintf(os.Stderr, "devstack: sweep %s: %s\n", u, resp.Status)
			}
		}
	}
}

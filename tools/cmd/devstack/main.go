// Command devstack runs the saga on this machine.
//
//	devstack run                    emulators, topic and subscriptions, the three services (make run)
//	devstack emulators -- CMD ARGS  fresh emulators on free ports around CMD (make test)
//	devstack bench -- CMD ARGS      a whole fresh stack on free ports around CMD (make bench)
//
// Production Firestore's write limits, which the emulator lacks, are
// simulated by a relay in front of it (tools/fslimits) when
// SIMULATED_DOC_WRITE_RATE (writes per second per stock shard document) or
// SIMULATED_RANGE_WRITE_RATE (writes per second per sequential index range)
// is set; SIMULATED_INDEXES names another index declaration than
// infra/indexes.json (an older one, to compare). BENCH_INSTANCES=n runs n
// instances of order-service and ticket-service, pushes spread over them.
// DEVSTACK_SERVICES_FROM=DIR builds the services from another checkout
// (the code before a change, to compare).
//
// The services are built with the build tag localstack (buildTag): the
// local stack's build, with the fault switch FAULT_CRASH_AFTER_COMMIT, the
// telemetry pause PUT /debug/telemetry (make bench) and ticket-service's
// STOCK_LEASES=0. A production build has none of them (docs/operations.md).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/ticketsaga/saga/infra"
	"github.com/ticketsaga/saga/shared/platform/config"
	"github.com/ticketsaga/saga/shared/saga"
	"github.com/ticketsaga/saga/tools/authemu"
	"github.com/ticketsaga/saga/tools/bootstrap"
	"github.com/ticketsaga/saga/tools/chaos"
	"github.com/ticketsaga/saga/tools/emulator"
	"github.com/ticketsaga/saga/tools/loadgen"
	"github.com/ticketsaga/saga/tools/pushfilter"
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
	case "bench":
		code, err = bench(ctx, os.Args[2:])
	case "pushfilter":
		err = servePushFilter(ctx)
	case "fslimits":
		err = serveFSLimits(ctx)
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
	fmt.Fprintf(os.Stderr, "devstack: starting the Pub/Sub, Firestore and Firebase Auth emulators (log: %s)\n", logPath)
	emu, err := emulator.Start(ctx, emulator.Ports{}, config.DefaultProject, logFile)
	if err != nil {
		return 0, err
	}
	defer emu.Stop()
	fmt.Fprintf(os.Stderr, "devstack: Pub/Sub at %s, Firestore at %s, Auth at %s (project %s)\n", emu.PubSubHost, emu.FirestoreHost, emu.AuthHost, emu.AuthProject)
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
	env  []string
}

// localStack is the emulators, the services and the subscriptions.
type localStack struct {
	project     string
	decl        infra.PubSub
	base        map[string]string // service → URL
	emu         *emulator.Emulators
	ps          *pubsub.Client
	supervisors map[string]*supervisor
	// pushFilter applies the subscriptions' filters, which the emulator
	// ignores (tools/pushfilter): a process of its own, whose CPU the
	// bench counts with the emulators'.
	pushFilter *supervisor
	// pushFilterURL is where it listens (GET /stats: what it forwarded).
	pushFilterURL string
	// fsLimits, when the limits are simulated, is the relay in front of
	// the Firestore emulator (tools/fslimits), and fsLimitsURL where it
	// reports what it did.
	fsLimits    *supervisor
	fsLimitsURL string
	// instances are the base URLs of every instance of each service.
	instances map[string][]string
	cleanup   []func()
}

// emulatorGroups are the process groups that stand in for Google Cloud:
// the emulators and the filtering relay.
func (st *localStack) emulatorGroups() map[string]int {
	g := st.emu.Groups()
	if st.pushFilter != nil {
		g["pubsub-filter"] = st.pushFilter.pid()
	}
	if st.fsLimits != nil {
		g["firestore-limits"] = st.fsLimits.pid()
	}
	return g
}

// startPushFilter runs the filtering relay in front of the services' push
// endpoints, as this program's pushfilter command, and returns its URL.
func (st *localStack) startPushFilter(ctx context.Context, out io.Writer) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	port, err := emulator.FreePort()
	if err != nil {
		return "", err
	}
	var targets []string
	for name, urls := range st.instances {
		targets = append(targets, name+"="+strings.Join(urls, "|"))
	}
	sv := &supervisor{name: "pushfilter", path: self, args: []string{"pushfilter"}, out: out,
		env: append(os.Environ(), "PORT="+strconv.Itoa(port), "PUSH_TARGETS="+strings.Join(targets, ","))}
	if err := sv.start(); err != nil {
		return "", err
	}
	st.cleanup = append(st.cleanup, sv.stop)
	st.pushFilter = sv
	u := fmt.Sprintf("http://127.0.0.1:%d", port)
	st.pushFilterURL = u
	return u, waitHealthy(ctx, u)
}

// servePushFilter is the pushfilter command: the relay for the declared
// subscriptions, forwarding to PUSH_TARGETS (service=URL, comma-separated),
// listening on PORT.
func servePushFilter(ctx context.Context) error {
	decl, err := infra.Load()
	if err != nil {
		return err
	}
	instances := map[string][]string{}
	for _, kv := range strings.Split(os.Getenv("PUSH_TARGETS"), ",") {
		if name, urls, ok := strings.Cut(kv, "="); ok {
			instances[name] = strings.Split(urls, "|")
		}
	}
	relay, err := pushfilter.NewSpread(decl, instances)
	if err != nil {
		return err
	}
	defer relay.Close()
	mux := http.NewServeMux()
	mux.Handle("/", relay)
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(relay.Stats())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	srv := &http.Server{Addr: "127.0.0.1:" + os.Getenv("PORT"), Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (st *localStack) stop() {
	for i := len(st.cleanup) - 1; i >= 0; i-- {
		st.cleanup[i]()
	}
}

// up builds and starts everything. extra services (same binaries, other
// settings) run beside, without subscriptions.
func up(ctx context.Context, services []service, extra []service, ports emulator.Ports, out io.Writer) (st *localStack, err error) {
	decl, err := infra.Load()
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load("devstack", os.Getenv)
	if err != nil {
		return nil, err
	}
	st = &localStack{project: cfg.ProjectID, decl: decl, base: map[string]string{}, supervisors: map[string]*supervisor{}, instances: map[string][]string{}}
	// Every error return sets st to nil: stop what was started through a
	// copy of the pointer.
	started := st
	defer func() {
		if err != nil {
			started.stop()
		}
	}()
	bin, err := os.MkdirTemp("", "saga-bin-")
	if err != nil {
		return nil, err
	}
	st.cleanup = append(st.cleanup, func() { os.RemoveAll(bin) })
	from := os.Getenv("DEVSTACK_SERVICES_FROM")
	if from != "" {
		fmt.Fprintf(os.Stderr, "building services from %s...\n", from)
	} else {
		fmt.Fprintln(os.Stderr, "building services...")
	}
	for _, s := range services {
		if strings.Contains(s.name, "#") {
			continue // another instance of a service built already
		}
		build := exec.CommandContext(ctx, "go", "build", "-tags", buildTag, "-o", filepath.Join(bin, s.name), s.pkg)
		build.Dir = from
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return nil, fmt.Errorf("build %s: %w", s.name, err)
		}
	}

	fmt.Fprintln(os.Stderr, "starting emulators...")
	if st.emu, err = emulator.Start(ctx, ports, cfg.ProjectID, emulatorLog()); err != nil {
		return nil, err
	}
	st.cleanup = append(st.cleanup, st.emu.Stop)
	for _, kv := range st.emu.Env() {
		k, v, _ := strings.Cut(kv, "=")
		if err := os.Setenv(k, v); err != nil {
			return nil, err
		}
	}

	// The topic and the subscriptions exist before any service starts, so
	// an event published the moment a service reports healthy reaches its
	// subscriptions. Their push endpoints are known from the ports.
	if st.ps, err = pubsub.NewClient(ctx, cfg.ProjectID); err != nil {
		return nil, err
	}
	st.cleanup = append(st.cleanup, func() { st.ps.Close() })
	for _, s := range services {
		u := fmt.Sprintf("http://127.0.0.1:%d", s.port)
		st.base[s.name] = u
		name, _, _ := strings.Cut(s.name, "#")
		st.instances[name] = append(st.instances[name], u)
	}
	// PUSH_FILTER=off pushes straight from the emulator, every event to
	// every service: to see the emulator's own behaviour, or to compare.
	endpoints := bootstrap.PushEndpoints(decl, st.base)
	if os.Getenv("PUSH_FILTER") != "off" || len(services) > 3 {
		relayURL, err := st.startPushFilter(ctx, out)
		if err != nil {
			return nil, err
		}
		endpoints = pushfilter.Endpoints(decl, relayURL)
	}
	if err := bootstrap.Apply(ctx, st.ps, cfg.ProjectID, decl, endpoints); err != nil {
		return nil, err
	}

	// One CPU per service, as Cloud Run gives them (--cpu=1), where Go
	// sizes GOMAXPROCS from the container's limit. With the machine's
	// cores instead, each service keeps idle threads spinning for work:
	// measured 10% more CPU per saga here.
	base := os.Environ()
	if os.Getenv("GOMAXPROCS") == "" {
		base = append(base, "GOMAXPROCS=1")
	}
	if limited() {
		addr, err := st.startFSLimits(ctx, out)
		if err != nil {
			return nil, err
		}
		base = append(base, "FIRESTORE_EMULATOR_HOST="+addr)
	}
	// order-service's pages read balances and tickets from the other two,
	// and its operator page the dead letters.
	peers := append([]string{"POINT_SERVICE_URL=" + st.base[saga.PointService], "TICKET_SERVICE_URL=" + st.base[saga.TicketService]}, decl.OpsEnv()...)
	for _, s := range append(slices.Clone(services), extra...) {
		binName, _, _ := strings.Cut(s.name, "#") // another instance of a service
		if binName == saga.OrderService {
			s.env = append(slices.Clone(peers), s.env...)
		}
		sv := &supervisor{name: s.name, path: filepath.Join(bin, binName), out: out,
			env: append(append(slices.Clone(base), "PORT="+strconv.Itoa(s.port), "GOOGLE_CLOUD_PROJECT="+cfg.ProjectID, "PUBSUB_TOPIC="+decl.Topic), s.env...)}
		if err := sv.start(); err != nil {
			return nil, err
		}
		st.cleanup = append(st.cleanup, sv.stop)
		st.supervisors[s.name] = sv
		st.base[s.name] = fmt.Sprintf("http://127.0.0.1:%d", s.port)
	}
	for name, u := range st.base {
		if err := waitHealthy(ctx, u); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return st, nil
}

func sagaServices(order, point, ticket int) []service {
	return []service{
		{name: saga.OrderService, pkg: "./order-service", port: order},
		{name: saga.PointService, pkg: "./point-service", port: point},
		{name: saga.TicketService, pkg: "./ticket-service", port: ticket},
	}
}

// run is `make run`.
func run(ctx context.Context) error {
	ports := map[string]int{}
	var err error
	for name, def := range map[string]int{"ORDER_PORT": 8080, "POINT_PORT": 8081, "TICKET_PORT": 8082, "PUBSUB_PORT": 8085, "FIRESTORE_PORT": 8086, "AUTH_PORT": 9099} {
		if ports[name], err = envInt(name, def); err != nil {
			return err
		}
	}
	services := sagaServices(ports["ORDER_PORT"], ports["POINT_PORT"], ports["TICKET_PORT"])
	// The buyer's page fills in the test buyer's sign-in.
	services[0].env = append(services[0].env, "DEMO_BUYER_EMAIL="+authemu.Email(demoBuyer), "DEMO_BUYER_PASSWORD="+authemu.Password)
	st, err := up(ctx, services, nil,
		emulator.Ports{PubSub: ports["PUBSUB_PORT"], Firestore: ports["FIRESTORE_PORT"], Auth: ports["AUTH_PORT"]}, os.Stdout)
	if err != nil {
		return err
	}
	defer st.stop()
	base, decl, emu := st.base, st.decl, st.emu

	if err := seed(ctx, st); err != nil {
		return err
	}
	fmt.Printf(`
saga is running (project %s, Ctrl-C stops everything):
  the shop        %s/       sign in as the test buyer %s (password %s), buy a ticket
  operator page   %s/ops
  order-service   %s   POST /orders, GET /orders/{id}, GET /me, GET /catalog
  point-service   %s   PUT|GET /accounts/{user_id}
  ticket-service  %s   PUT|GET /tickets/{ticket_id}, GET /tickets, GET /users/{user_id}/tickets
  Pub/Sub emulator   %s   topic %s
  Firestore emulator %s
  Auth emulator      %s   buyers: go run ./tools/cmd/sagactl token <uid> prints an ID token
`, st.project, base[saga.OrderService], authemu.Email(demoBuyer), authemu.Password, base[saga.OrderService],
		base[saga.OrderService], base[saga.PointService], base[saga.TicketService], emu.PubSubHost, decl.Topic, emu.FirestoreHost, emu.AuthHost)

	if os.Getenv("CHAOS_DUPLICATES") != "" {
		// Play the worst legal Pub/Sub: every event 1-2 extra times,
		// up to 1.5 s late.
		dup, err := chaos.Start(ctx, st.ps, st.project, decl.Topic, "chaos-duplicates", 2, 1500*time.Millisecond)
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
	go sweep(ctx, sweepEvery, []string{base[saga.OrderService] + saga.TaskSweep})
	fmt.Printf("  timeout sweep every %s (SWEEP_INTERVAL); ORDER_TIMEOUT=%s\n\n", sweepEvery, config.Or(os.Getenv("ORDER_TIMEOUT"), "30s"))
	<-ctx.Done()
	fmt.Println("\nstopping...")
	return nil
}

// bench runs argv against a fresh stack on free ports (make bench): the
// three services, plus a ticket-service with its stock in one document
// (STOCK_SHARDS=1) for the flash-sale comparison. The services log to a
// file; argv gets the URLs and the services' PIDs in its environment.
func bench(ctx context.Context, argv []string) (int, error) {
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:]
	}
	if len(argv) == 0 {
		return 0, errors.New("bench: no command given")
	}
	instances, err := envInt("BENCH_INSTANCES", 1)
	if err != nil || instances > 8 {
		return 0, fmt.Errorf("BENCH_INSTANCES=%q: want 1 to 8 instances of order- and ticket-service", os.Getenv("BENCH_INSTANCES"))
	}
	var ports []int
	for range 7 + 2*(instances-1) {
		p, err := emulator.FreePort()
		if err != nil {
			return 0, err
		}
		ports = append(ports, p)
	}
	logPath := filepath.Join(os.TempDir(), fmt.Sprintf("saga-bench-%d.log", os.Getpid()))
	logFile, err := os.Create(logPath)
	if err != nil {
		return 0, err
	}
	defer logFile.Close()
	// BENCH_OTLP_SINK=1: the services export traces (TRACE_EXPORTER=otlp)
	// and OTLP metrics to a local sink instead of Google Cloud.
	if os.Getenv("BENCH_OTLP_SINK") == "1" {
		sink, err := startOTLPSink()
		if err != nil {
			return 0, err
		}
		defer sink.stop()
		for _, k := range []string{"TRACE_ENDPOINT", "METRICS_ENDPOINT"} {
			if err := os.Setenv(k, sink.url); err != nil {
				return 0, err
			}
		}
	}
	// The design before sharding: one stock document, no leases
	// (STOCK_LEASES=0: the local stack's build only).
	single := service{name: saga.TicketService + "#single", port: ports[3], env: []string{"STOCK_SHARDS=1", "STOCK_LEASES=0"}}
	services := sagaServices(ports[0], ports[1], ports[2])
	for i := 2; i <= instances; i++ {
		services = append(services,
			service{name: fmt.Sprintf("%s#%d", saga.OrderService, i), pkg: "./order-service", port: ports[7+2*(i-2)]},
			service{name: fmt.Sprintf("%s#%d", saga.TicketService, i), pkg: "./ticket-service", port: ports[8+2*(i-2)]})
	}
	st, err := up(ctx, services, []service{single}, emulator.Ports{PubSub: ports[4], Firestore: ports[5], Auth: ports[6]}, logFile)
	if err != nil {
		return 0, err
	}
	defer st.stop()
	fmt.Fprintf(os.Stderr, "devstack: stack up; service logs in %s\n", logPath)
	var pids []string
	for name, sv := range st.supervisors {
		pids = append(pids, name+"="+strconv.Itoa(sv.pid()))
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "GOOGLE_CLOUD_PROJECT="+st.project, "PUBSUB_TOPIC="+st.decl.Topic,
		"BENCH_ORDER_URL="+st.base[saga.OrderService], "BENCH_POINT_URL="+st.base[saga.PointService],
		"BENCH_TICKET_URL="+st.base[saga.TicketService], "BENCH_TICKET_SINGLE_URL="+st.base[single.name],
		"BENCH_PIDS="+strings.Join(pids, ","), "BENCH_EMULATOR_GROUPS="+joinPIDs(st.emulatorGroups()),
		"BENCH_ORDER_URLS="+strings.Join(st.instances[saga.OrderService], ","), "BENCH_TICKET_URLS="+strings.Join(st.instances[saga.TicketService], ","),
		"BENCH_FSLIMITS_URL="+st.fsLimitsURL, "BENCH_PUSHFILTER_URL="+st.pushFilterURL)
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	return 0, err
}

// supervisor runs one service and, like Cloud Run, starts it again when it
// dies (FAULT_CRASH_AFTER_COMMIT makes that happen on purpose).
type supervisor struct {
	name, path string
	args       []string
	env        []string
	out        io.Writer
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
	cmd := exec.Command(sv.path, sv.args...)
	cmd.Env = sv.env
	cmd.Stdout, cmd.Stderr = sv.out, sv.out
	// Killed with devstack, should it die without stopping it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
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

func (sv *supervisor) pid() int {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.cmd.Process.Pid
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

// joinPIDs writes name=pid pairs, comma-separated.
func joinPIDs(m map[string]int) string {
	var out []string
	for name, pid := range m {
		out = append(out, name+"="+strconv.Itoa(pid))
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// demoBuyer is make run's test buyer, with points and tickets on sale.
const demoBuyer = "alice"

// buildTag builds the services as the local stack's build: what only a
// drill or a measurement here needs, which a production build lacks.
const buildTag = "localstack"

// seed gives make run something to buy: the test buyer's sign-in and
// points, and three ticket types (one sold out), as the README's curl
// lines would.
func seed(ctx context.Context, st *localStack) error {
	// The client's buyers are the Auth emulator's that up put in the
	// environment.
	c := loadgen.NewClient(st.base[saga.OrderService], st.base[saga.PointService], st.base[saga.TicketService])
	if err := c.Buyers.CreateUser(ctx, demoBuyer); err != nil {
		return fmt.Errorf("seed the test buyer: %w", err)
	}
	if err := c.SeedAccount(ctx, demoBuyer, 10000); err != nil {
		return fmt.Errorf("seed the test buyer's points: %w", err)
	}
	for _, t := range []struct {
		id           string
		price, stock int64
	}{{"concert", 2000, 50}, {"jazz-night", 1500, 10}, {"encore", 3000, 0}} {
		if err := c.SeedTicket(ctx, t.id, t.price, t.stock); err != nil {
			return fmt.Errorf("seed ticket %s: %w", t.id, err)
		}
	}
	return nil
}

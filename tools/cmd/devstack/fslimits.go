package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ticketsaga/saga/infra"
	"github.com/ticketsaga/saga/tools/emulator"
	"github.com/ticketsaga/saga/tools/fslimits"
)

// The settings of the simulated Firestore limits.
const (
	envDocRate         = "SIMULATED_DOC_WRITE_RATE"
	envDocCollections  = "SIMULATED_DOC_COLLECTIONS"
	envRangeRate       = "SIMULATED_RANGE_WRITE_RATE"
	envIndexes         = "SIMULATED_INDEXES"
	envScale           = "SIMULATED_SCALE"
	defaultDocCollects = "stock_shards"
)

// Production's limits, which SIMULATED_SCALE scales (docs/capacity.md): one
// sustained write per second per document, 500 writes per second per
// sequentially indexed range.
var production = map[string]float64{envDocRate: 1, envRangeRate: 500}

// limited: a Firestore limit is simulated.
func limited() bool {
	return os.Getenv(envDocRate) != "" || os.Getenv(envRangeRate) != "" || os.Getenv(envScale) != ""
}

// rate reads a positive rate (writes per second) from name, or
// production's scaled by SIMULATED_SCALE; 0 when neither is set.
func rate(name string) (float64, error) {
	v := os.Getenv(name)
	if v == "" {
		if s := os.Getenv(envScale); s != "" {
			scale, err := strconv.ParseFloat(s, 64)
			if err != nil || scale <= 0 || scale > 1 {
				return 0, fmt.Errorf("%s=%q: want a scale of production's rates, from 0 to 1", envScale, s)
			}
			return production[name] * scale, nil
		}
		return 0, nil
	}
	r, err := strconv.ParseFloat(v, 64)
	if err != nil || r <= 0 {
		return 0, fmt.Errorf("%s=%q: want writes per second, more than 0", name, v)
	}
	return r, nil
}

// startFSLimits runs the Firestore relay in front of the emulator, as this
// program's fslimits command, and returns its host:port.
func (st *localStack) startFSLimits(ctx context.Context, out io.Writer) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	port, err := emulator.FreePort()
	if err != nil {
		return "", err
	}
	statsPort, err := emulator.FreePort()
	if err != nil {
		return "", err
	}
	sv := &supervisor{name: "fslimits", path: self, args: []string{"fslimits"}, out: out,
		env: append(os.Environ(), "PORT="+strconv.Itoa(port), "STATS_PORT="+strconv.Itoa(statsPort), "FS_BACKEND="+st.emu.FirestoreHost)}
	if err := sv.start(); err != nil {
		return "", err
	}
	st.cleanup = append(st.cleanup, sv.stop)
	st.fsLimits = sv
	st.fsLimitsURL = fmt.Sprintf("http://127.0.0.1:%d", statsPort)
	docRate, err := rate(envDocRate)
	if err != nil {
		return "", err
	}
	rangeRate, err := rate(envRangeRate)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "devstack: Firestore limits simulated: %.4g writes/s per document of %s, %.4g writes/s per sequential index range, indexes of %s\n",
		docRate, orDefault(os.Getenv(envDocCollections), defaultDocCollects), rangeRate, orDefault(os.Getenv(envIndexes), "infra/indexes.json"))
	return fmt.Sprintf("127.0.0.1:%d", port), waitHealthy(ctx, st.fsLimitsURL)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// serveFSLimits is the fslimits command: the Firestore relay on PORT in
// front of the emulator at FS_BACKEND, with the simulated limits, and what
// it did as JSON on STATS_PORT (GET /stats).
func serveFSLimits(ctx context.Context) error {
	docRate, err := rate(envDocRate)
	if err != nil {
		return err
	}
	rangeRate, err := rate(envRangeRate)
	if err != nil {
		return err
	}
	decl, err := infra.FirestoreDeclaration()
	if err != nil {
		return err
	}
	if path := os.Getenv(envIndexes); path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		decl = infra.Firestore{}
		if err := json.Unmarshal(raw, &decl); err != nil {
			return fmt.Errorf("%s=%s: %w", envIndexes, path, err)
		}
	}
	relay, err := fslimits.Start("127.0.0.1:"+os.Getenv("PORT"), os.Getenv("FS_BACKEND"), fslimits.NewRules(decl), fslimits.Limits{
		DocWritesPerSecond: docRate, DocCollections: strings.Split(orDefault(os.Getenv(envDocCollections), defaultDocCollects), ","),
		RangeWritesPerSecond: rangeRate})
	if err != nil {
		return err
	}
	defer relay.Stop()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(relay.Stats())
	})
	lis, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("STATS_PORT"))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

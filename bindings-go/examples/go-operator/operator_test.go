package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"

	"sliceplane.example/sliceplane"
)

// fakeAPI is an in-memory API server: it holds objects by kind and name and
// answers like the real one (AlreadyExists, NotFound, Conflict on a stale
// resourceVersion).
type fakeAPI struct {
	objects  map[string]map[string]json.RawMessage
	rv       map[string]string
	version  int
	failNext int
}

func newFakeAPI() *fakeAPI {
	return &fakeAPI{objects: map[string]map[string]json.RawMessage{}, rv: map[string]string{}}
}

func (f *fakeAPI) Write(_ context.Context, op sliceplane.Op) sliceplane.Outcome {
	if f.failNext > 0 {
		f.failNext--
		return sliceplane.Failed("503 service unavailable")
	}
	byName := f.objects[op.Kind]
	if byName == nil {
		byName = map[string]json.RawMessage{}
		f.objects[op.Kind] = byName
	}
	key := op.Kind + "/" + op.Name
	_, exists := byName[op.Name]
	var meta struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(op.Object, &meta)
	switch op.Op {
	case "create":
		if exists {
			return sliceplane.AlreadyExists()
		}
	case "update":
		if !exists {
			return sliceplane.NotFound()
		}
		if rv := meta.Metadata.ResourceVersion; rv != "" && rv != f.rv[key] {
			return sliceplane.Conflict()
		}
	case "delete":
		if !exists {
			return sliceplane.NotFound()
		}
		delete(byName, op.Name)
		delete(f.rv, key)
		return sliceplane.Success("", "")
	}
	f.version++
	byName[op.Name] = op.Object
	f.rv[key] = strconv.Itoa(f.version)
	return sliceplane.Success(f.rv[key], "uid-"+op.Name)
}

func (f *fakeAPI) names(kind string) []string {
	var out []string
	for n := range f.objects[kind] {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func desiredNames(t *testing.T, objs []json.RawMessage) []string {
	t.Helper()
	var out []string
	for _, o := range objs {
		var m struct {
			Metadata struct{ Name string } `json:"metadata"`
		}
		if err := json.Unmarshal(o, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m.Metadata.Name)
	}
	slices.Sort(out)
	return out
}

func TestOperatorConvergesOnFakeAPI(t *testing.T) {
	stream, err := os.ReadFile("../../../examples/cluster-watch.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(stream, []byte("\n"))
	half := len(lines) / 2
	initial, rest := bytes.Join(lines[:half], nil), lines[half:]

	cfg, err := sliceplane.NewConfigFromYAML([]byte("source: pods\nseed: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Close()
	eng, err := sliceplane.NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	api := newFakeAPI()
	api.failNext = 2 // the first two writes fail and are retried later
	// The clock is read by the operator goroutine while the test advances it.
	var now atomic.Uint64
	now.Store(1_000)
	var logged int
	op := &Operator{Engine: eng, API: api, Now: now.Load,
		Logf: func(string, ...any) { logged++ }}
	if err := op.Sync(initial); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan []byte)
	tick := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- op.Run(ctx, events, tick) }()
	for _, l := range rest {
		now.Add(50)
		events <- l
	}
	// Let time pass until the engine has nothing left to do.
	for range 1000 {
		_, pending, err := eng.NextDue()
		if err != nil {
			t.Fatal(err)
		}
		st, err := eng.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if !pending && st.InFlight == 0 {
			break
		}
		now.Add(1_000)
		tick <- struct{}{}
	}
	close(events)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	slicesWant, err := eng.DesiredSlices()
	if err != nil {
		t.Fatal(err)
	}
	idsWant, err := eng.DesiredIdentities()
	if err != nil {
		t.Fatal(err)
	}
	if len(slicesWant) == 0 || len(idsWant) == 0 {
		t.Fatal("nothing desired")
	}
	if got, want := api.names("CiliumEndpointSlice"), desiredNames(t, slicesWant); !slices.Equal(got, want) {
		t.Fatalf("server slices %v, desired %v", got, want)
	}
	if got, want := api.names("CiliumIdentity"), desiredNames(t, idsWant); !slices.Equal(got, want) {
		t.Fatalf("server identities %v, desired %v", got, want)
	}
	if logged < 2 {
		t.Fatalf("failed writes not logged: %d", logged)
	}

	// Serve the metrics and health on loopback and scrape them.
	mux := http.NewServeMux()
	mux.Handle("/metrics", op.MetricsHandler())
	mux.Handle("/healthz", op.HealthHandler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	body, ctype := scrape(t, srv.URL+"/metrics", http.StatusOK)
	if ctype != sliceplane.MetricsContentType {
		t.Fatalf("content type %q", ctype)
	}
	counters, err := eng.Counters()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# TYPE cilium_operator_number_of_ceps_per_ces histogram",
		"cilium_operator_ces_sync_total{",
		"sliceplane_endpoints ",
		"sliceplane_degraded 0",
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Fatalf("metrics lack %q:\n%s", want, body)
		}
	}
	if counters.WritesFailed < 2 || counters.WritesSucceeded == 0 {
		t.Fatalf("counters %+v", counters)
	}
	body, _ = scrape(t, srv.URL+"/healthz", http.StatusOK)
	if !bytes.Contains(body, []byte(`"state":"healthy"`)) {
		t.Fatalf("health: %s", body)
	}
}

func scrape(t *testing.T, url string, status int) ([]byte, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	return body, resp.Header.Get("Content-Type")
}

package sliceplane

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

const configYAML = "source: pods\nseed: 1\nwrite:\n  syncDelayMs: 0\n"

const namespaceEvent = `{"type":"ADDED","object":{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}}}`

func podEvent(typ string, i int, app string) []byte {
	return fmt.Appendf(nil, `{"type":%q,"object":{"apiVersion":"v1","kind":"Pod",`+
		`"metadata":{"name":"web-%d","namespace":"default","labels":{"app":%q}},`+
		`"spec":{"nodeName":"node-1","containers":[]},`+
		`"status":{"phase":"Running","podIP":"10.%d.%d.%d","podIPs":[{"ip":"10.%d.%d.%d"}]}}}`,
		typ, i, app, i>>16&255, i>>8&255, i&255, i>>16&255, i>>8&255, i&255)
}

func newEngine(t testing.TB) *Engine {
	t.Helper()
	cfg, err := NewConfigFromYAML([]byte(configYAML))
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Close()
	eng, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestVersion(t *testing.T) {
	maj, min, pat := HeaderVersion()
	if got, want := Version(), fmt.Sprintf("%d.%d.%d", maj, min, pat); got != want {
		t.Fatalf("library %s, header %s", got, want)
	}
}

func TestLifecycle(t *testing.T) {
	def, err := NewDefaultConfig()
	must(t, err)
	js, err := def.JSON()
	must(t, err)
	if !bytes.Contains(js, []byte(`"source"`)) {
		t.Fatalf("config JSON: %s", js)
	}
	must(t, def.Close())
	must(t, def.Close())
	if _, err := def.JSON(); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed config: %v", err)
	}

	eng := newEngine(t)
	must(t, eng.ApplyJSON([]byte(namespaceEvent), 1))
	must(t, eng.ApplyJSON(podEvent("ADDED", 1, "web"), 1))
	must(t, eng.ApplyJSON(podEvent("ADDED", 2, "web"), 1))
	ops, err := eng.Flush(2)
	must(t, err)
	if len(ops) != 0 {
		t.Fatalf("planned before sync: %v", ops)
	}
	must(t, eng.InitialSyncDone(10))
	if _, ok, err := eng.NextDue(); err != nil || !ok {
		t.Fatalf("next due: %v %v", ok, err)
	}
	ops, err = eng.Flush(10_000)
	must(t, err)
	if len(ops) != 2 || ops[0].Kind != "CiliumIdentity" || ops[1].Kind != "CiliumEndpointSlice" {
		t.Fatalf("plan: %+v", ops)
	}
	for _, op := range ops {
		if op.Op != "create" || op.Name == "" || len(op.Object) == 0 {
			t.Fatalf("op: %+v", op)
		}
	}
	st, err := eng.Stats()
	must(t, err)
	if st.Endpoints != 2 || st.InFlight != 2 || !st.Synced {
		t.Fatalf("stats: %+v", st)
	}
	for i, op := range ops {
		must(t, eng.Report(op.ID, Success(fmt.Sprint(100+i), fmt.Sprint("u-", i)), 10_001))
	}
	ops, err = eng.Flush(20_000)
	must(t, err)
	if len(ops) != 0 {
		t.Fatalf("second flush: %+v", ops)
	}
	slices, err := eng.DesiredSlices()
	must(t, err)
	ids, err := eng.DesiredIdentities()
	must(t, err)
	if len(slices) != 1 || len(ids) != 1 {
		t.Fatalf("desired: %d slices, %d identities", len(slices), len(ids))
	}
	evs, err := eng.DrainEvents()
	must(t, err)
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	evs, err = eng.DrainEvents()
	must(t, err)
	if len(evs) != 0 {
		t.Fatalf("events after drain: %v", evs)
	}

	must(t, eng.Close())
	must(t, eng.Close())
	if err := eng.ApplyJSON([]byte(namespaceEvent), 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("apply after close: %v", err)
	}
	if _, err := eng.Flush(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("flush after close: %v", err)
	}
	if _, err := eng.Stats(); !errors.Is(err, ErrClosed) {
		t.Fatalf("stats after close: %v", err)
	}
}

func wantErr(t *testing.T, err error, sentinel *Error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want %s, got %v", sentinel.Code, err)
	}
	if !errors.Is(err, sentinel) || e.Code != sentinel.Code || e.Number != sentinel.Number || e.Message == "" {
		t.Fatalf("want %s (%d), got %#v", sentinel.Code, sentinel.Number, e)
	}
	return e
}

func TestErrors(t *testing.T) {
	_, err := NewConfigFromYAML([]byte("nosuchfield: 1\n"))
	wantErr(t, err, ErrInvalidConfig)
	_, err = NewConfigFromJSON([]byte(`{"source": "pods"`))
	wantErr(t, err, ErrInvalidConfig)
	_, err = NewConfigFromYAML([]byte{0xff, 0xfe})
	wantErr(t, err, ErrInvalidUTF8)
	_, err = NewEngine(nil)
	wantErr(t, err, ErrNullArgument)

	eng := newEngine(t)
	wantErr(t, eng.ApplyJSON([]byte("{not json"), 1), ErrMalformedInput)
	wantErr(t, eng.ApplyJSON([]byte(`{"type":"ADDED","object":{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}}`), 1), ErrUnknownKind)
	wantErr(t, eng.ApplyJSON(podEvent("BOOKMARKED", 1, "web"), 1), ErrUnknownEventType)
	e := wantErr(t, eng.ApplyJSON([]byte(`{"type":"ADDED","object":{"apiVersion":"v1","kind":"Pod",`+
		`"metadata":{"name":"p","namespace":"default"},"spec":{"nodeName":"n"},`+
		`"status":{"phase":"Running","podIPs":[{"ip":"999.1.1.1"}]}}}`), 1), ErrInvalidIP)
	if e.Object != "Pod default/p" || e.Field != "status.podIPs[0].ip" {
		t.Fatalf("object/field: %#v", e)
	}
	if errors.Is(e, ErrInvalidName) {
		t.Fatal("errors.Is matched the wrong code")
	}
	// An event that is not UTF-8 is malformed input, as in a batch and in
	// every binding.
	wantErr(t, eng.ApplyJSON([]byte{'{', '"', 0xff, '"', '}'}, 1), ErrMalformedInput)
	wantErr(t, eng.ApplyJSON(nil, 1), ErrMalformedInput)
	wantErr(t, eng.Report(424242, Success("1", "u"), 1), ErrUnknownOp)
	wantErr(t, eng.Report(1, Outcome{Outcome: "maybe"}, 1), ErrMalformedInput)
	st, err := eng.Stats()
	must(t, err)
	if st.Endpoints != 0 {
		t.Fatalf("rejected events changed state: %+v", st)
	}
}

func TestApplyJSONLines(t *testing.T) {
	eng := newEngine(t)
	var b bytes.Buffer
	b.WriteString(namespaceEvent + "\n")
	for i := range 3 {
		b.Write(podEvent("ADDED", i, "web"))
		b.WriteByte('\n')
	}
	b.WriteString("{oops\n\n  \n\xff\n")
	b.Write(podEvent("ADDED", 9, "db"))
	rej, err := eng.ApplyJSONLines(b.Bytes(), 5)
	must(t, err)
	if len(rej) != 2 || rej[0].Index != 4 || rej[0].Code != "malformed_input" || rej[1].Index != 5 || rej[1].Line != 8 || rej[1].Code != "malformed_input" || rej[0].Line != 5 {
		t.Fatalf("rejected: %+v", rej)
	}
	if !errors.Is(rej[0].Err(), ErrMalformedInput) {
		t.Fatal("Rejected.Err")
	}
	st, err := eng.Stats()
	must(t, err)
	if st.Endpoints != 4 {
		t.Fatalf("stats: %+v", st)
	}
	rej, err = eng.ApplyJSONLines(nil, 6)
	must(t, err)
	if rej != nil {
		t.Fatalf("empty batch: %+v", rej)
	}
}

func TestGoroutines(t *testing.T) {
	eng := newEngine(t)
	must(t, eng.ApplyJSON([]byte(namespaceEvent), 1))
	must(t, eng.InitialSyncDone(1))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	const writers, perWriter = 4, 100
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				n := w*perWriter + i
				if err := eng.ApplyJSON(podEvent("ADDED", n, fmt.Sprint("app-", n%7)), uint64(n)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for range 3 {
		wg.Go(func() {
			for range 100 {
				if _, err := eng.Stats(); err != nil {
					errs <- err
					return
				}
				if _, err := eng.DesiredSlices(); err != nil {
					errs <- err
					return
				}
				if _, _, err := eng.NextDue(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 20 {
			ops, err := eng.Flush(uint64(1000 * i))
			if err != nil {
				errs <- err
				return
			}
			for _, op := range ops {
				if err := eng.Report(op.ID, Success("1", "u"), uint64(1000*i)); err != nil {
					errs <- err
					return
				}
			}
			if _, err := eng.DrainEvents(); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st, err := eng.Stats()
	must(t, err)
	if st.Endpoints != writers*perWriter {
		t.Fatalf("endpoints %d", st.Endpoints)
	}
}

func TestPolicy(t *testing.T) {
	cluster := []byte(`[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}},
	 {"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"default","labels":{"app":"web"}},"spec":{"nodeName":"n1"},"status":{"podIP":"10.0.0.1"}},
	 {"apiVersion":"v1","kind":"Pod","metadata":{"name":"client","namespace":"default","labels":{"app":"client"}},"spec":{"nodeName":"n1"},"status":{"podIP":"10.0.0.2"}}]`)
	policies := []byte(`[{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"deny","namespace":"default"},
	 "spec":{"podSelector":{"matchLabels":{"app":"web"}},"policyTypes":["Ingress"]}}]`)
	pc, err := NewPolicyCluster(cluster, policies)
	must(t, err)
	defer pc.Close()
	v, err := pc.Probe(Probe{From: "default/client", To: "default/web", Port: "80"})
	must(t, err)
	if v.Decision != "deny" {
		t.Fatalf("verdict %+v", v)
	}
	v, err = pc.Probe(Probe{From: "default/web", To: "default/client", Port: "80", Protocol: "UDP"})
	must(t, err)
	if v.Decision != "allow" {
		t.Fatalf("verdict %+v", v)
	}
	_, err = pc.Probe(Probe{From: "default/nope", To: "default/web", Port: "80"})
	wantErr(t, err, ErrInvalidProbe)
	m, err := pc.Matrix("80", "")
	must(t, err)
	idx := map[string]int{}
	for i, raw := range m.Peers {
		var p struct {
			Endpoint struct{ Namespace, Name string } `json:"endpoint"`
		}
		must(t, json.Unmarshal(raw, &p))
		idx[p.Endpoint.Namespace+"/"+p.Endpoint.Name] = i
	}
	if len(m.Cells) != 2 || len(idx) != 2 || m.TruthTable == "" {
		t.Fatalf("matrix %+v", m)
	}
	if c := m.Cells[idx["default/client"]][idx["default/web"]]; c == nil || *c != "deny" {
		t.Fatalf("client->web %v", c)
	}
	if c := m.Cells[idx["default/web"]][idx["default/client"]]; c == nil || *c != "allow" {
		t.Fatalf("web->client %v", c)
	}
	_, err = pc.Matrix("80", "ICMP")
	if e := wantErr(t, err, ErrInvalidProbe); e.Field != "protocol" {
		t.Fatalf("field %q", e.Field)
	}
	_, err = pc.Matrix("0", "TCP")
	if e := wantErr(t, err, ErrInvalidProbe); e.Field != "port" {
		t.Fatalf("field %q", e.Field)
	}
	_, err = NewPolicyCluster(cluster, []byte(`[{"kind":"NetworkPolicy"}]`))
	if err == nil {
		t.Fatal("bad policy accepted")
	}
	must(t, pc.Close())
	if _, err := pc.Probe(Probe{From: "default/web", To: "default/client", Port: "80"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("probe after close: %v", err)
	}
}

// BenchmarkApplyJSONLines measures bulk ingest: 100k pod events per batch
// into a fresh engine, one crossing per batch.
func BenchmarkApplyJSONLines(b *testing.B) {
	const n = 100_000
	var buf bytes.Buffer
	buf.WriteString(namespaceEvent + "\n")
	for i := range n {
		buf.Write(podEvent("ADDED", i, fmt.Sprint("app-", i%50)))
		buf.WriteByte('\n')
	}
	lines := buf.Bytes()
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		cfg, err := NewConfigFromYAML([]byte(configYAML))
		if err != nil {
			b.Fatal(err)
		}
		eng, err := NewEngine(cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		rej, err := eng.ApplyJSONLines(lines, 1)
		total += time.Since(start)
		if err != nil || len(rej) != 0 {
			b.Fatal(err, rej)
		}
		b.StopTimer()
		eng.Close()
		cfg.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n+1)*float64(b.N)/total.Seconds(), "events/s")
	b.SetBytes(int64(len(lines)))
}

// A handle that is never closed is freed by its finalizer (the safety net).
func TestFinalizerSafetyNet(t *testing.T) {
	for range 50 {
		cfg, err := NewConfigFromYAML([]byte(configYAML))
		must(t, err)
		eng, err := NewEngine(cfg)
		must(t, err)
		must(t, eng.ApplyJSON([]byte(namespaceEvent), 1))
	}
	runtime.GC()
	runtime.GC()
}

func TestFlushAtMost(t *testing.T) {
	eng := newEngine(t)
	defer eng.Close()
	must(t, eng.ApplyJSON([]byte(namespaceEvent), 1))
	must(t, eng.ApplyJSON(podEvent("ADDED", 1, "web"), 1))
	must(t, eng.InitialSyncDone(10))
	// No idle writer for slices: the identity only; the slice stays dirty.
	ops, err := eng.FlushAtMost(10_000, 0)
	must(t, err)
	if len(ops) != 1 || ops[0].Kind != "CiliumIdentity" {
		t.Fatalf("plan with no slice writes: %+v", ops)
	}
	ops, err = eng.FlushAtMost(10_000, 1)
	must(t, err)
	if len(ops) != 1 || ops[0].Kind != "CiliumEndpointSlice" || ops[0].Op != "create" {
		t.Fatalf("plan with one slice write: %+v", ops)
	}
}

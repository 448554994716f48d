package integration

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// nfr1CeilingRow is one writer count of the write ceiling.
type nfr1CeilingRow struct {
	Writers      int      `json:"writers"`
	Updates      int      `json:"updates"`
	PerSecond    float64  `json:"updates_per_s"`
	RoundTrip    nfr1Stat `json:"round_trip"`
	CPUPerUpdate float64  `json:"process_cpu_ms_per_update"`
	Cores        float64  `json:"process_cpu_cores"`
	Load         string   `json:"loadavg"`
}

// TestNFR1WriteCeiling measures the test API server's sustained ceiling of
// 100-entry CiliumEndpointSlice updates per second on this host, with no
// operator running (writeCeiling). TestNFR1 measures the same at its end,
// on its own cluster. Opt-in with SLICEPLANE_NFR1=1.
func TestNFR1WriteCeiling(t *testing.T) {
	if os.Getenv("SLICEPLANE_NFR1") == "" {
		t.Skip("opt-in: SLICEPLANE_NFR1=1")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newCluster(t, "/sliceplane-nfr1-ceiling", true)
	for range 2 {
		wi, err := separateClient(t, c.srv.config).Resource(GVRCiliumEndpointSlice).Watch(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for range wi.ResultChan() {
			}
		}()
	}
	t.Log(nfr1CeilingTable(writeCeiling(ctx, t, c.srv.config)))
}

func nfr1CeilingTable(rows []nfr1CeilingRow) string {
	var b strings.Builder
	b.WriteString("\n| writers | updates/s | round trip p50 / p99 | process CPU per update | process CPU (cores) |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %d | %.1f | %.1f / %.1f ms | %.2f ms | %.2f |\n", r.Writers, r.PerSecond, r.RoundTrip.P50, r.RoundTrip.P99, r.CPUPerUpdate, r.Cores)
	}
	return b.String()
}

// writeCeiling: k clients (k = 1, 2, 4, 8; SLICEPLANE_NFR1_CEILING_CONC)
// each update their own slice of namespace "ceiling" (distinct objects, as
// the operator's writers do) in a closed loop, one entry changed per
// update, for SLICEPLANE_NFR1_CEILING_SECONDS (default 8) each. Per k:
// updates/s, round trip p50/p99 and the process's CPU (API server, etcd,
// clients) per update and in cores. Where updates/s stop growing with k,
// the server's CPU (not the number of writers) is the limit; NFR1's
// writes/s per rate are to be read against it. The caller opens the slice
// watches the server should fan out to.
func writeCeiling(ctx context.Context, t testing.TB, cfg *rest.Config) []nfr1CeilingRow {
	seconds := 8
	if v := os.Getenv("SLICEPLANE_NFR1_CEILING_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 120 {
			t.Fatalf("bad SLICEPLANE_NFR1_CEILING_SECONDS %q", v)
		}
		seconds = n
	}
	concs := nfr1Ints(t, "SLICEPLANE_NFR1_CEILING_CONC", []int{1, 2, 4, 8})
	const size = 100
	const ns = "ceiling"
	var gmu sync.Mutex
	g := 0
	next := func() string { gmu.Lock(); defer gmu.Unlock(); g++; return nfr1ChangeIP(g) }
	// One client (own connection) and one slice per writer, as the
	// operator's writers each update a distinct slice.
	type writer struct {
		update func() (time.Duration, error)
	}
	maxConc := 0
	for _, k := range concs {
		maxConc = max(maxConc, k)
	}
	writers := make([]writer, maxConc)
	for wi := range writers {
		ces := separateClient(t, cfg).Resource(GVRCiliumEndpointSlice)
		name := fmt.Sprintf("ceiling-%02d", wi)
		ips := make([]string, size)
		for i := range ips {
			ips[i] = next()
		}
		got, err := ces.Create(ctx, nfr1CESObject(name, ns, size, func(i int) string { return ips[i] }), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rv, i := got.GetResourceVersion(), 0
		writers[wi].update = func() (time.Duration, error) {
			ips[i%size] = next()
			i++
			obj := nfr1CESObject(name, ns, size, func(i int) string { return ips[i] })
			obj.SetResourceVersion(rv)
			s := time.Now()
			got, err := ces.Update(ctx, obj, metav1.UpdateOptions{})
			d := time.Since(s)
			if err == nil {
				rv = got.GetResourceVersion()
			}
			return d, err
		}
	}
	// Warm up every writer's connection.
	for _, w := range writers {
		for range 10 {
			if _, err := w.update(); err != nil {
				t.Fatal(err)
			}
		}
	}
	var out []nfr1CeilingRow
	for _, k := range concs {
		var mu sync.Mutex
		var rts []time.Duration
		var wg sync.WaitGroup
		cpu0, start := processCPU(), time.Now()
		stop := start.Add(time.Duration(seconds) * time.Second)
		for wi := range k {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []time.Duration
				for time.Now().Before(stop) {
					d, err := writers[wi].update()
					if err != nil {
						t.Errorf("writer %d: %v", wi, err)
						return
					}
					mine = append(mine, d)
				}
				mu.Lock()
				rts = append(rts, mine...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		el, cpu := time.Since(start), processCPU()-cpu0
		n := len(rts)
		if n == 0 {
			t.Fatalf("%d writers: no update", k)
		}
		t.Logf("%d writers: %d updates in %v: %.1f/s, round trip p50 %.1f ms p99 %.1f ms, process CPU %.2f ms per update, %.2f cores; load %s",
			k, n, el.Round(time.Millisecond), float64(n)/el.Seconds(), ms(percentile(rts, 0.5)), ms(percentile(rts, 0.99)),
			ms(cpu/time.Duration(n)), cpu.Seconds()/el.Seconds(), loadavg())
		out = append(out, nfr1CeilingRow{Writers: k, Updates: n, PerSecond: float64(n) / el.Seconds(), RoundTrip: statOf(rts),
			CPUPerUpdate: ms(cpu / time.Duration(n)), Cores: cpu.Seconds() / el.Seconds(), Load: loadavg()})
	}
	return out
}

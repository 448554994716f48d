package sliceplane

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// podIP is the IP podEvent gives pod i.
func podIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

func engineWithPods(t testing.TB, n int) *Engine {
	t.Helper()
	eng := newEngine(t)
	var lines bytes.Buffer
	lines.WriteString(namespaceEvent + "\n")
	for i := range n {
		lines.Write(podEvent("ADDED", i, fmt.Sprint("app-", i%5)))
		lines.WriteByte('\n')
	}
	rej, err := eng.ApplyJSONLines(lines.Bytes(), 1)
	if err != nil || rej != nil {
		t.Fatalf("%v %v", rej, err)
	}
	if err := eng.InitialSyncDone(2); err != nil {
		t.Fatal(err)
	}
	return eng
}

func TestSnapshot(t *testing.T) {
	eng := engineWithPods(t, 3)
	snap, err := eng.Publish()
	must(t, err)
	defer snap.Close()
	if snap.Version() == 0 {
		t.Fatal("version 0 after publish")
	}
	ep, ok, err := snap.LookupIP("10.0.0.1")
	must(t, err)
	if !ok || ep.Name != "web-1" || ep.Namespace != "default" || len(ep.IPs) != 1 || ep.IPs[0] != "10.0.0.1" || ep.Slice == "" || ep.Identity == 0 {
		t.Fatalf("lookup: %+v %v", ep, ok)
	}
	id, ok, err := snap.IdentityOfIP(podIP(1))
	must(t, err)
	if !ok || id != ep.Identity {
		t.Fatalf("identity %d %v, want %d", id, ok, ep.Identity)
	}
	id, ok, err = snap.IdentityOfIPString("10.0.0.1")
	must(t, err)
	if !ok || id != ep.Identity {
		t.Fatalf("identity (string) %d %v", id, ok)
	}
	if _, ok, err := snap.LookupIP("10.9.9.9"); err != nil || ok {
		t.Fatalf("unknown IP: %v %v", ok, err)
	}
	if _, ok, err := snap.IdentityOfIP(netip.MustParseAddr("fd00::9")); err != nil || ok {
		t.Fatalf("unknown IPv6: %v %v", ok, err)
	}
	_, _, err = snap.LookupIP("10.0.0.256")
	wantErr(t, err, ErrInvalidIP)
	_, _, err = snap.IdentityOfIPString("nope")
	wantErr(t, err, ErrInvalidIP)
	_, _, err = snap.IdentityOfIP(netip.Addr{})
	wantErr(t, err, ErrInvalidIP)

	got, ok, err := snap.Endpoint("default", "web-2")
	must(t, err)
	if !ok || got.IPs[0] != "10.0.0.2" {
		t.Fatalf("endpoint: %+v", got)
	}
	if _, ok, err := snap.Endpoint("default", "nope"); err != nil || ok {
		t.Fatalf("missing endpoint: %v %v", ok, err)
	}
	eps, err := snap.Endpoints("")
	must(t, err)
	if len(eps) != 3 {
		t.Fatalf("endpoints: %+v", eps)
	}
	sl, err := snap.Slices("default")
	must(t, err)
	if len(sl) != 1 || len(sl[0].Endpoints) != 3 {
		t.Fatalf("slices: %+v", sl)
	}
	if sl, err := snap.Slices("other"); err != nil || len(sl) != 0 {
		t.Fatalf("other namespace: %+v %v", sl, err)
	}
	c, err := snap.Counts()
	must(t, err)
	if c.Endpoints != 3 || c.IPs != 3 || c.Slices != 1 || c.Fragmentation.Ideal != 1 || c.Fragmentation.Ratio() != 1 || c.Version != snap.Version() {
		t.Fatalf("counts: %+v", c)
	}
	if l, ok, err := snap.IdentityLabels(ep.Identity); err != nil || !ok || !bytes.Contains(l, []byte("app-1")) {
		t.Fatalf("labels: %s %v %v", l, ok, err)
	}

	// The reader sees later publishes; the old snapshot does not change.
	r, err := eng.SnapshotReader()
	must(t, err)
	defer r.Close()
	must(t, eng.ApplyJSON(podEvent("DELETED", 1, "app-1"), 3))
	s2, err := eng.Publish()
	must(t, err)
	if s2.Version() != snap.Version()+1 || r.Version() != s2.Version() {
		t.Fatalf("versions %d %d %d", snap.Version(), s2.Version(), r.Version())
	}
	if _, ok, _ := r.IdentityOfIP(podIP(1)); ok {
		t.Fatal("deleted pod still in the reader's snapshot")
	}
	if _, ok, _ := snap.IdentityOfIP(podIP(1)); !ok {
		t.Fatal("old snapshot changed")
	}
	must(t, s2.Close())

	// Engine extras.
	m, err := eng.Metrics()
	must(t, err)
	if !bytes.Contains(m, []byte("# TYPE cilium_operator_")) {
		t.Fatalf("metrics:\n%s", m)
	}
	h, err := eng.Health()
	must(t, err)
	if h.State != "healthy" || h.Degraded() {
		t.Fatalf("health %+v", h)
	}
	cn, err := eng.Counters()
	must(t, err)
	if cn.EventsApplied != 5 {
		t.Fatalf("counters %+v", cn)
	}
	must(t, eng.Resync(4))
	must(t, eng.ObserveApplySeconds(0.001))
	wantErr(t, eng.ObserveApplySeconds(-1), ErrInvalidValue)

	// Snapshots and readers outlive the engine; closed handles give ErrClosed.
	must(t, eng.Close())
	s3, err := r.Load()
	must(t, err)
	if _, ok, err := s3.Endpoint("default", "web-0"); err != nil || !ok {
		t.Fatalf("after engine close: %v %v", ok, err)
	}
	must(t, s3.Close())
	must(t, s3.Close())
	if _, _, err := s3.IdentityOfIP(podIP(0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed snapshot: %v", err)
	}
	must(t, r.Close())
	if _, err := r.Load(); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed reader: %v", err)
	}
	if _, err := eng.Publish(); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed engine: %v", err)
	}
}

func cesEvent(typ, name string, eps ...string) []byte {
	var b bytes.Buffer
	for i, e := range eps {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(e)
	}
	return fmt.Appendf(nil, `{"type":%q,"object":{"apiVersion":"cilium.io/v2alpha1","kind":"CiliumEndpointSlice",`+
		`"metadata":{"name":%q},"namespace":"web","endpoints":[%s]}}`, typ, name, b.String())
}

func cesEntry(name string, id int, ip string) string {
	return fmt.Sprintf(`{"name":%q,"id":%d,"networking":{"addressing":[{"ipv4":%q}],"node":"192.168.1.1"},"encryption":{"key":3}}`, name, id, ip)
}

func TestConsumer(t *testing.T) {
	c, err := NewConsumer(0)
	must(t, err)
	defer c.Close()
	must(t, c.SetNow(5))
	ch, err := c.ApplyJSON(cesEvent("ADDED", "ces-1", cesEntry("p1", 5000, "10.1.0.1"), cesEntry("p2", 5001, "10.1.0.2")))
	must(t, err)
	if len(ch) != 2 || ch[0].Op != "upsert" || ch[0].Old != nil || ch[0].New == nil || ch[0].New.NodeIP != "192.168.1.1" || ch[0].New.EncryptionKey != 3 {
		t.Fatalf("changes: %+v", ch)
	}
	_, err = c.ApplyJSON([]byte(`{"type":"ADDED","object":`))
	wantErr(t, err, ErrMalformedInput)

	lines := bytes.Join([][]byte{
		cesEvent("MODIFIED", "ces-1", cesEntry("p2", 5002, "10.1.0.2")),
		[]byte("not json"),
		cesEvent("ADDED", "ces-2", cesEntry("p3", 5003, "10.1.0.3")),
	}, []byte("\n"))
	ch, rej, err := c.ApplyJSONLines(lines)
	must(t, err)
	if len(rej) != 1 || rej[0].Index != 1 || rej[0].Code != "malformed_input" {
		t.Fatalf("rejected: %+v", rej)
	}
	var ups, dels int
	for _, x := range ch {
		switch x.Op {
		case "upsert":
			ups++
		case "delete":
			dels++
			if x.Old == nil || x.Old.Name != "p1" || x.Index != 0 {
				t.Fatalf("delete: %+v", x)
			}
		}
	}
	if ups != 2 || dels != 1 {
		t.Fatalf("changes: %+v", ch)
	}
	r, err := c.SnapshotReader()
	must(t, err)
	defer r.Close()
	snap, err := c.Publish()
	must(t, err)
	defer snap.Close()
	if id, ok, err := r.IdentityOfIP(netip.MustParseAddr("10.1.0.2")); err != nil || !ok || id != 5002 {
		t.Fatalf("reader identity %d %v %v", id, ok, err)
	}
	if _, ok, _ := snap.LookupIP("10.1.0.1"); ok {
		t.Fatal("deleted endpoint still present")
	}
	cn, err := c.Counters()
	must(t, err)
	if cn.EventsApplied != 3 || cn.EventsRejected != 2 || cn.Endpoints != 2 || cn.Deletes != 1 || cn.IPCacheSize != 2 {
		t.Fatalf("counters %+v", cn)
	}
	if _, err := c.DrainEvents(); err != nil {
		t.Fatal(err)
	}
	must(t, c.Close())
	if _, err := c.Publish(); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed consumer: %v", err)
	}
}

// One goroutine applies churn and publishes; others load snapshots through
// a SnapshotReader, holding no engine lock, and check each is consistent.
func TestSnapshotReaderConcurrent(t *testing.T) {
	eng := engineWithPods(t, 0)
	r, err := eng.SnapshotReader()
	must(t, err)
	defer r.Close()
	first, err := eng.Publish()
	must(t, err)
	must(t, first.Close())

	var done atomic.Bool
	var loads, checked atomic.Int64
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			var last uint64
			for !done.Load() {
				s, err := r.Load()
				if err != nil {
					errs <- err
					return
				}
				v := s.Version()
				if v < last {
					errs <- fmt.Errorf("version went back: %d after %d", v, last)
				}
				last = v
				eps, err := s.Endpoints("")
				if err != nil {
					errs <- err
					return
				}
				for _, ep := range eps {
					for _, ip := range ep.IPs {
						got, ok, err := s.LookupIP(ip)
						if err != nil || !ok || got.Name != ep.Name || got.Identity != ep.Identity {
							errs <- fmt.Errorf("v%d: %s -> %+v %v %v, want %s", v, ip, got, ok, err, ep.Name)
							return
						}
						id, ok, err := s.IdentityOfIP(netip.MustParseAddr(ip))
						if err != nil || !ok || id != ep.Identity {
							errs <- fmt.Errorf("v%d: identity of %s: %d %v %v", v, ip, id, ok, err)
							return
						}
					}
					checked.Add(1)
				}
				s.Close()
				loads.Add(1)
			}
		})
	}
	now := uint64(3)
	for i := range 400 {
		now++
		must(t, eng.ApplyJSON(podEvent("ADDED", i, fmt.Sprint("app-", i%3)), now))
		if i >= 10 {
			must(t, eng.ApplyJSON(podEvent("MODIFIED", i-10, fmt.Sprint("app-", (i+1)%3)), now))
		}
		if i >= 20 && i%3 == 0 {
			must(t, eng.ApplyJSON(podEvent("DELETED", i-20, "x"), now))
		}
		if i%8 == 7 {
			s, err := eng.Publish()
			must(t, err)
			s.Close()
		}
		if i%50 == 49 {
			_, err := eng.Flush(now)
			must(t, err)
		}
	}
	last, err := eng.Publish()
	must(t, err)
	defer last.Close()
	for loads.Load() < 3 {
		runtime.Gosched()
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if checked.Load() == 0 {
		t.Fatal("no endpoint checked")
	}
	if r.Version() != last.Version() {
		t.Fatalf("reader at %d, last publish %d", r.Version(), last.Version())
	}
	t.Logf("%d loads, %d endpoints checked", loads.Load(), checked.Load())
}

// BenchmarkSnapshotIdentityOfIP: the reader loads a snapshot once, then
// looks up IPs (10k endpoints, all hits).
func BenchmarkSnapshotIdentityOfIP(b *testing.B) {
	const n = 10_000
	eng := engineWithPods(b, n)
	if s, err := eng.Publish(); err != nil {
		b.Fatal(err)
	} else {
		s.Close()
	}
	r, err := eng.SnapshotReader()
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	snap, err := r.Load()
	if err != nil {
		b.Fatal(err)
	}
	defer snap.Close()
	ips := make([]netip.Addr, n)
	for i := range ips {
		ips[i] = podIP(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, ok, err := snap.IdentityOfIP(ips[i%n]); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkSnapshotReaderIdentityOfIP: lookups straight through the reader
// (an ArcSwap load per lookup, no Snapshot handle).
func BenchmarkSnapshotReaderIdentityOfIP(b *testing.B) {
	const n = 10_000
	eng := engineWithPods(b, n)
	if s, err := eng.Publish(); err != nil {
		b.Fatal(err)
	} else {
		s.Close()
	}
	r, err := eng.SnapshotReader()
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	ips := make([]netip.Addr, n)
	for i := range ips {
		ips[i] = podIP(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, ok, err := r.IdentityOfIP(ips[i%n]); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

// The shared-IP release option (DESIGN §7): web-2's newer claim owns
// 10.1.0.2; when web-2's slice goes, "handover" (also the default) gives
// the entry back to web-1 and "cilium" removes it.
func TestConsumerSharedIPRelease(t *testing.T) {
	for _, tc := range []struct {
		release  string
		hasOwner bool
	}{{"handover", true}, {"cilium", false}, {"", true}} {
		c, err := NewConsumerWithOptions(ConsumerOptions{SharedIPRelease: tc.release})
		must(t, err)
		_, err = c.ApplyJSON(cesEvent("ADDED", "ces-a", cesEntry("web-1", 5000, "10.1.0.2")))
		must(t, err)
		_, err = c.ApplyJSON(cesEvent("ADDED", "ces-b", cesEntry("web-2", 5001, "10.1.0.2")))
		must(t, err)
		snap, err := c.Publish()
		must(t, err)
		if ep, ok, err := snap.LookupIP("10.1.0.2"); err != nil || !ok || ep.Name != "web-2" || ep.Identity != 5001 {
			t.Fatalf("%q: before: %+v %v %v", tc.release, ep, ok, err)
		}
		must(t, snap.Close())
		_, err = c.ApplyJSON(cesEvent("DELETED", "ces-b"))
		must(t, err)
		snap, err = c.Publish()
		must(t, err)
		ep, ok, err := snap.LookupIP("10.1.0.2")
		must(t, err)
		if ok != tc.hasOwner || (ok && (ep.Name != "web-1" || ep.Identity != 5000)) {
			t.Fatalf("%q: after: %+v %v", tc.release, ep, ok)
		}
		must(t, snap.Close())
		must(t, c.Close())
	}
	_, err := NewConsumerWithOptions(ConsumerOptions{SharedIPRelease: "sometimes"})
	wantErr(t, err, ErrInvalidValue)
}

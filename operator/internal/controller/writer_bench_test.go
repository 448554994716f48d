package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"testing"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"sliceplane.example/sliceplane"
)

// benchSlice is a 100-entry CiliumEndpointSlice as the engine plans one
// (the NFR1 workload's entries).
func benchSlice(rv string) []byte {
	eps := make([]map[string]any, 100)
	for i := range eps {
		eps[i] = map[string]any{
			"name": fmt.Sprintf("ep-%05d", i),
			"id":   1000 + i%40,
			"networking": map[string]any{
				"addressing": []any{map[string]any{"ipv4": fmt.Sprintf("10.1.%d.%d", i/250, i%250)}},
				"node":       fmt.Sprintf("192.168.%d.%d", i/250, i%250),
			},
			"encryption":      map[string]any{"key": 0},
			"named-ports":     []any{map[string]any{"name": "http", "port": 8080, "protocol": "TCP"}},
			"service-account": "sa-ns",
		}
	}
	b, _ := json.Marshal(map[string]any{
		"apiVersion": "cilium.io/v2alpha1", "kind": "CiliumEndpointSlice",
		"metadata":  map[string]any{"name": "ces-1", "resourceVersion": rv},
		"namespace": "ns", "endpoints": eps,
	})
	return b
}

// BenchmarkDynamicAPIWriteSlice is the operator's CPU for one 100-entry
// slice update (request encoding, response decoding, the pruning check)
// against a server that answers with the stored object at once.
func BenchmarkDynamicAPIWriteSlice(b *testing.B) {
	answer := benchSlice("2")
	var stored map[string]any
	_ = json.Unmarshal(answer, &stored)
	md := stored["metadata"].(map[string]any)
	md["uid"] = "4c5d7c1e-6f2a-4d49-9d1a-1b2c3d4e5f60"
	md["creationTimestamp"] = "2026-12-02T15:00:00Z"
	md["generation"] = 7
	md["managedFields"] = []any{map[string]any{"manager": "sliceplane-operator", "operation": "Update", "apiVersion": "cilium.io/v2alpha1",
		"time": "2026-12-02T15:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": map[string]any{"f:endpoints": map[string]any{}, "f:namespace": map[string]any{}}}}
	answer, _ = json.Marshal(stored)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	}))
	defer srv.Close()
	cfg := &rest.Config{Host: srv.URL, QPS: -1}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	api := &DynamicAPI{Client: client, Metrics: NewMetrics()}
	if os.Getenv("SLICEPLANE_BENCH_DYNAMIC_ONLY") == "" {
		if api.REST, err = rest.UnversionedRESTClientFor(dynamic.ConfigFor(cfg)); err != nil {
			b.Fatal(err)
		}
	}
	op := sliceplane.Op{ID: 1, Op: "update", Group: "cilium.io", Version: "v2alpha1", Plural: "ciliumendpointslices",
		Kind: "CiliumEndpointSlice", Name: "ces-1", Object: benchSlice("1")}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if out := api.Write(ctx, op); out.Outcome != sliceplane.OutcomeSuccess {
			b.Fatalf("outcome %v", out)
		}
	}
	if api.Metrics.prunedWrites != 0 {
		b.Fatalf("pruned writes: %d", api.Metrics.prunedWrites)
	}
}

// TestJSONEqualMatchesDeepEqual: jsonEqual agrees with reflect.DeepEqual on
// decoded JSON values, equal ones and ones differing by one leaf, a
// missing key or a type.
func TestJSONEqualMatchesDeepEqual(t *testing.T) {
	docs := []string{
		`null`, `1`, `1.5`, `"a"`, `true`, `[]`, `{}`, `[1,2]`, `[1,"2"]`, `{"a":1}`, `{"a":1.0}`, `{"a":"1"}`, `{"b":1}`,
		`{"a":1,"b":[{"c":null}]}`, `{"a":1,"b":[{"c":false}]}`, `{"a":1,"b":[{"c":null},{}]}`, `{"a":1,"b":[{}]}`,
		string(benchSlice("1")), string(benchSlice("2")),
	}
	decode := func(s string) any {
		u := map[string]any{}
		if err := json.Unmarshal([]byte(`{"v":`+s+`}`), &u); err != nil {
			t.Fatal(err)
		}
		return normalizeInts(u["v"])
	}
	for _, x := range docs {
		for _, y := range docs {
			a, b := decode(x), decode(y)
			if got, want := jsonEqual(a, b), reflect.DeepEqual(a, b); got != want {
				t.Errorf("jsonEqual(%.40s, %.40s) = %v, reflect.DeepEqual %v", x, y, got, want)
			}
		}
	}
	s1, s2 := decode(string(benchSlice("1"))).(map[string]any), decode(string(benchSlice("2"))).(map[string]any)
	if !sameOutsideMetadata(s1, s2) {
		t.Error("slices differing only in metadata compare unequal")
	}
	s2["extra"] = int64(1)
	if sameOutsideMetadata(s1, s2) || sameOutsideMetadata(s2, s1) {
		t.Error("a field only one side has compares equal")
	}
	delete(s2, "extra")
	delete(s2["endpoints"].([]any)[7].(map[string]any), "service-account")
	if sameOutsideMetadata(s1, s2) {
		t.Error("a pruned entry field compares equal")
	}
}

// normalizeInts turns whole float64s into int64, as UnstructuredJSONScheme
// decodes integers.
func normalizeInts(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = normalizeInts(x)
		}
	case []any:
		for i, x := range v {
			v[i] = normalizeInts(x)
		}
	case float64:
		if v == float64(int64(v)) {
			return int64(v)
		}
	}
	return v
}

// TestRawWrites: with REST set, an update is a PUT of the planned bytes as
// they are to the object's path and a create a POST to the collection, and
// API errors map to the same outcomes as through the dynamic client.
func TestRawWrites(t *testing.T) {
	planned := benchSlice("1")
	var gotMethod, gotPath string
	var gotBody []byte
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotMethod, gotPath = r.Method, r.URL.Path
		gotBody, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		switch status {
		case http.StatusOK:
			_, _ = w.Write(benchSlice("2"))
		default:
			w.WriteHeader(status)
			reason := map[int]string{http.StatusConflict: "Conflict", http.StatusNotFound: "NotFound"}[status]
			fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":%q,"code":%d}`, reason, status)
		}
	}))
	defer srv.Close()
	cfg := &rest.Config{Host: srv.URL, QPS: -1}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	api := &DynamicAPI{Client: client, Metrics: NewMetrics()}
	if api.REST, err = rest.UnversionedRESTClientFor(dynamic.ConfigFor(cfg)); err != nil {
		t.Fatal(err)
	}
	op := sliceplane.Op{ID: 1, Op: "update", Group: "cilium.io", Version: "v2alpha1", Plural: "ciliumendpointslices",
		Kind: "CiliumEndpointSlice", Name: "ces-1", Object: planned}
	ctx := context.Background()
	out := api.Write(ctx, op)
	if out.Outcome != sliceplane.OutcomeSuccess || out.ResourceVersion != "2" {
		t.Fatalf("update: %+v", out)
	}
	if gotMethod != http.MethodPut || gotPath != "/apis/cilium.io/v2alpha1/ciliumendpointslices/ces-1" || string(gotBody) != string(planned) {
		t.Fatalf("update sent %s %s (body equal: %v)", gotMethod, gotPath, string(gotBody) == string(planned))
	}
	if api.Metrics.prunedWrites != 0 {
		t.Fatalf("pruned: %d", api.Metrics.prunedWrites)
	}
	op.Op = "create"
	if out := api.Write(ctx, op); out.Outcome != sliceplane.OutcomeSuccess || gotMethod != http.MethodPost || gotPath != "/apis/cilium.io/v2alpha1/ciliumendpointslices" {
		t.Fatalf("create: %+v, sent %s %s", out, gotMethod, gotPath)
	}
	op.Op = "update"
	for code, want := range map[int]string{http.StatusConflict: sliceplane.OutcomeConflict, http.StatusNotFound: sliceplane.OutcomeNotFound} {
		status = code
		if out := api.Write(ctx, op); out.Outcome != want {
			t.Errorf("HTTP %d: outcome %+v, want %s", code, out, want)
		}
	}
}

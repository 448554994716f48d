package sliceplane

// The shared conformance fixtures (../tests/conformance, see its README)
// run through the Go package. Each expected file is decoded into the Go
// type the API returns with unknown fields disallowed, so a field of the
// wire shape that the Go type lacks fails the test, and then compared with
// what the API returned.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
)

const fixtures = "../tests/conformance"

func caseDirs(t *testing.T, kind string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(fixtures, kind))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(fixtures, kind, e.Name()))
		}
	}
	sort.Strings(dirs)
	if len(dirs) == 0 {
		t.Fatalf("no %s cases", kind)
	}
	return dirs
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeStrict decodes data into out with unknown fields disallowed.
func decodeStrict(data []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(out)
}

// expect decodes dir/expected/name into a new value of got's type (a
// slice), unknown fields disallowed, and compares it with got.
func expect(t *testing.T, dir, name string, got any) {
	t.Helper()
	path := filepath.Join(dir, "expected", name)
	want := reflect.New(reflect.TypeOf(got))
	if err := decodeStrict(readFile(t, path), want.Interface()); err != nil {
		t.Errorf("%s: the Go type misses a field of the wire shape: %v", path, err)
		return
	}
	w, g := want.Elem(), reflect.ValueOf(got)
	if w.Len() == 0 && g.Len() == 0 {
		return
	}
	if !reflect.DeepEqual(w.Interface(), got) {
		wj, _ := json.Marshal(w.Interface())
		gj, _ := json.Marshal(got)
		t.Errorf("%s:\n  want %s\n  got  %s", path, wj, gj)
	}
}

func TestConformanceEngine(t *testing.T) {
	for _, dir := range caseDirs(t, "engine") {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var c struct {
				Config  json.RawMessage `json:"config"`
				FlushAt []uint64        `json:"flushAt"`
			}
			if err := json.Unmarshal(readFile(t, filepath.Join(dir, "case.json")), &c); err != nil {
				t.Fatal(err)
			}
			cfg, err := NewConfigFromJSON(c.Config)
			must(t, err)
			defer cfg.Close()
			en, err := NewEngine(cfg)
			must(t, err)
			defer en.Close()
			rejected, err := en.ApplyJSONLines(readFile(t, filepath.Join(dir, "input.jsonl")), 0)
			must(t, err)
			expect(t, dir, "rejected.json", rejected)
			must(t, en.InitialSyncDone(0))
			var writes []Op
			for _, now := range c.FlushAt {
				ops, err := en.Flush(now)
				must(t, err)
				for _, op := range ops {
					must(t, en.Report(op.ID, Success(fmt.Sprintf("rv-%d", op.ID), fmt.Sprintf("uid-%d", op.ID)), now))
				}
				writes = append(writes, ops...)
			}
			expect(t, dir, "writes.json", writes)
			snap, err := en.Publish()
			must(t, err)
			defer snap.Close()
			eps, err := snap.Endpoints("")
			must(t, err)
			expect(t, dir, "endpoints.json", eps)
			slices, err := snap.Slices("")
			must(t, err)
			expect(t, dir, "slices.json", slices)
		})
	}
}

func TestConformanceConsumer(t *testing.T) {
	for _, dir := range caseDirs(t, "consumer") {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var c struct {
				Now uint64 `json:"now"`
			}
			if err := json.Unmarshal(readFile(t, filepath.Join(dir, "case.json")), &c); err != nil {
				t.Fatal(err)
			}
			cn, err := NewConsumer(0)
			must(t, err)
			defer cn.Close()
			must(t, cn.SetNow(c.Now))
			changes, rejected, err := cn.ApplyJSONLines(readFile(t, filepath.Join(dir, "input.jsonl")))
			must(t, err)
			expect(t, dir, "changes.json", changes)
			expect(t, dir, "rejected.json", rejected)
			snap, err := cn.Publish()
			must(t, err)
			defer snap.Close()
			eps, err := snap.Endpoints("")
			must(t, err)
			expect(t, dir, "endpoints.json", eps)
			slices, err := snap.Slices("")
			must(t, err)
			expect(t, dir, "slices.json", slices)
		})
	}
}

func TestConformancePolicy(t *testing.T) {
	for _, dir := range caseDirs(t, "policy") {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			pc, err := NewPolicyCluster(readFile(t, filepath.Join(dir, "cluster.json")), readFile(t, filepath.Join(dir, "policies.json")))
			must(t, err)
			defer pc.Close()
			answers, err := pc.EvalProbes(readFile(t, filepath.Join(dir, "probes.jsonl")))
			must(t, err)
			expect(t, dir, "answers.json", answers)
		})
	}
}

// The check itself: a Go type without one of the wire fields, or with a
// field under another name, cannot decode the expected output.
func TestConformanceCatchesAMissingField(t *testing.T) {
	data := readFile(t, filepath.Join(fixtures, "engine", "stream", "expected", "endpoints.json"))
	var full []Endpoint
	must(t, decodeStrict(data, &full))
	if len(full) == 0 || len(full[0].NamedPorts) == 0 || full[0].ServiceAccount == "" {
		t.Fatalf("fixture lost its named ports or service account: %+v", full)
	}
	type withoutServiceAccount struct {
		Namespace     string      `json:"namespace"`
		Name          string      `json:"name"`
		Slice         string      `json:"slice"`
		Identity      uint32      `json:"identity"`
		IPs           []string    `json:"ips"`
		NodeIP        string      `json:"nodeIp"`
		EncryptionKey uint8       `json:"encryptionKey"`
		NamedPorts    []NamedPort `json:"namedPorts"`
	}
	var missing []withoutServiceAccount
	if err := decodeStrict(data, &missing); err == nil {
		t.Fatal("a type without serviceAccount decoded the wire endpoints")
	}
	var r []struct {
		Index   int    `json:"index"`
		LineNo  int    `json:"lineNo"`
		Code    string `json:"code"`
		Number  uint32 `json:"number"`
		Message string `json:"message"`
		Object  string `json:"object"`
		Field   string `json:"field"`
	}
	if err := decodeStrict(readFile(t, filepath.Join(fixtures, "engine", "stream", "expected", "rejected.json")), &r); err == nil {
		t.Fatal("a type with line renamed decoded the wire rejections")
	}
}

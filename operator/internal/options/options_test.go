package options

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sliceplane.example/sliceplane"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func rateLimitsOf(t *testing.T, js []byte) []RateLimitStep {
	t.Helper()
	var v struct {
		Write struct {
			RateLimits []RateLimitStep `json:"rateLimits"`
		} `json:"write"`
	}
	if err := json.Unmarshal(js, &v); err != nil {
		t.Fatal(err)
	}
	return v.Write.RateLimits
}

func TestParseRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--source", "nodes"}, "--source"},
		{[]string{"--write-parallelism", "0"}, "--write-parallelism"},
		{[]string{"--rate-limits", "0:10"}, "nodes:limit:burst"},
		{[]string{"--leader-elect-lease-duration", "5s", "--leader-elect-renew-deadline", "5s"}, "lease duration"},
		{[]string{"--leader-elect-renew-deadline", "2s", "--leader-elect-retry-period", "2s"}, "renew deadline"},
		{[]string{"--leader-elect-write-margin", "5s"}, "write margin"},
		{[]string{"--log-level", "loud"}, "log-level"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		_, err := Parse(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error mentioning %q", tc.args, err, tc.want)
		}
	}
	// Without leader election its timings are not checked.
	if _, err := Parse([]string{"--leader-elect=false", "--leader-elect-write-margin", "5s"}, io.Discard); err != nil {
		t.Errorf("--leader-elect=false: %v", err)
	}
}

func TestHelpSaysHelmDefaults(t *testing.T) {
	var b strings.Builder
	_, err := Parse([]string{"--help"}, &b)
	if err == nil {
		t.Fatal("--help: want flag.ErrHelp")
	}
	for _, want := range []string{"Cilium's Helm default ciliumEndpointSlice.rateLimits", HelmDefaultRateLimits, "--source", "loopback"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

func TestInvalidConfigNamesTheField(t *testing.T) {
	p := writeConfig(t, "write:\n  rateLimits: [{nodes: 0, limit: 0, burst: 1}]\n")
	o, err := Parse([]string{"--config", p}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = o.EngineConfig()
	var ce *ConfigError
	var se *sliceplane.Error
	if !errors.As(err, &ce) || !errors.As(err, &se) || !errors.Is(err, sliceplane.ErrInvalidConfig) {
		t.Fatalf("got %v, want a ConfigError wrapping invalid_config", err)
	}
	if se.Field != "write.rateLimits[0].limit" || !strings.Contains(err.Error(), p) {
		t.Errorf("field %q, message %q: want field write.rateLimits[0].limit and the file named", se.Field, err)
	}

	p = writeConfig(t, "slicing:\n  maxEndpointsPerSlice: 5000\n")
	o, _ = Parse([]string{"--config", p}, io.Discard)
	if _, _, err = o.EngineConfig(); !errors.As(err, &se) || se.Field != "slicing.maxEndpointsPerSlice" {
		t.Errorf("got %v, want field slicing.maxEndpointsPerSlice", err)
	}

	p = writeConfig(t, "write:\n  syncDelay: 5\n") // unknown key: a typo must not fall back to a default
	o, _ = Parse([]string{"--config", p}, io.Discard)
	if _, _, err = o.EngineConfig(); !errors.Is(err, sliceplane.ErrInvalidConfig) {
		t.Errorf("unknown key: got %v, want invalid_config", err)
	}

	// A flag value the engine refuses is reported as coming from the flags.
	o, _ = Parse([]string{"--rate-limits", "0:10:0"}, io.Discard)
	if _, _, err = o.EngineConfig(); !errors.As(err, &se) || se.Field != "write.rateLimits[0].burst" || !strings.Contains(err.Error(), "--rate-limits") {
		t.Errorf("got %v, want field write.rateLimits[0].burst from --rate-limits", err)
	}
}

func TestRateLimitsPrecedence(t *testing.T) {
	helm, _ := ParseRateLimits(HelmDefaultRateLimits)
	if len(helm) != 3 || helm[2] != (RateLimitStep{Nodes: 500, Limit: 100, Burst: 200}) {
		t.Fatalf("Helm default parsed as %+v", helm)
	}
	// Neither sets them: Helm's default.
	o, _ := Parse(nil, io.Discard)
	cfg, js, err := o.EngineConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Close()
	if got := rateLimitsOf(t, js); len(got) != 3 || got[1] != helm[1] {
		t.Errorf("default: %+v, want %+v", got, helm)
	}
	// The file sets them: the file's.
	p := writeConfig(t, "write:\n  rateLimits: [{nodes: 0, limit: 7, burst: 9}]\n")
	o, _ = Parse([]string{"--config", p}, io.Discard)
	cfg, js, err = o.EngineConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Close()
	if got := rateLimitsOf(t, js); len(got) != 1 || got[0] != (RateLimitStep{Nodes: 0, Limit: 7, Burst: 9}) {
		t.Errorf("from the file: %+v", got)
	}
	// The flag wins over the file, and --source over the file's source.
	p = writeConfig(t, "source: pods\nwrite:\n  rateLimits: [{nodes: 0, limit: 7, burst: 9}]\n")
	o, _ = Parse([]string{"--config", p, "--rate-limits", "0:30:60", "--source", "ciliumendpoints"}, io.Discard)
	cfg, js, err = o.EngineConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Close()
	if got := rateLimitsOf(t, js); len(got) != 1 || got[0] != (RateLimitStep{Nodes: 0, Limit: 30, Burst: 60}) {
		t.Errorf("from the flag: %+v", got)
	}
	if src, _ := SourceOf(js); src != "ciliumendpoints" {
		t.Errorf("source %q, want ciliumendpoints (flag)", src)
	}
}

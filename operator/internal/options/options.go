// Package options parses sliceplane-operator's command line and builds the
// engine configuration from --config and the flags that map onto it.
package options

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"sliceplane.example/operator/internal/leader"
	"sliceplane.example/sliceplane"
)

// HelmDefaultRateLimits is Cilium's Helm default for
// ciliumEndpointSlice.rateLimits (install/kubernetes/cilium/values.yaml
// since cilium/cilium#33946): 10/s burst 20 from 0 nodes, 50/s burst 100
// from 100 nodes, 100/s burst 200 from 500 nodes.
const HelmDefaultRateLimits = "0:10:20,100:50:100,500:100:200"

// Options is the parsed command line.
type Options struct {
	Kubeconfig   string
	ConfigPath   string
	Source       string // "" = what --config says
	RateLimits   string // nodes:limit:burst,...
	rateLimitSet bool
	Parallelism  int
	MaxBatch     int
	KubeQPS      float64
	KubeBurst    int
	AdminAddress string
	LogLevel     slog.Level
	Shutdown     time.Duration
	// TracePropagation turns on the propagation trace (JSON log lines per
	// watch event and per write; see the controller package).
	TracePropagation bool

	LeaderElect bool
	Lease       leader.Config
}

// Usage is printed above the flags by --help.
const Usage = `sliceplane-operator: the CiliumEndpointSlice controller built on the sliceplane engine.

Watches CiliumEndpoints (or Pods, Namespaces, Nodes and CiliumNodes with
--source pods) and CiliumEndpointSlices, and writes the slices (and, with
--source pods, CiliumIdentities) the engine plans. Run it instead of
cilium-operator's own CES controller (see deploy/README.md).

Flags that map onto the engine's config override --config; the rest of the
engine's settings (slicing, sync delay, retry, error threshold, identity)
come from --config. Defaults are Cilium's Helm defaults where Cilium has
the setting.

Admin endpoints (--admin-address): GET /metrics, /healthz, /readyz,
POST /resync (also on SIGHUP). SIGTERM: graceful shutdown.

Flags:
`

// defaultNamespace is the pod's namespace (service account mount), else kube-system.
func defaultNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b))
	}
	return "kube-system"
}

func defaultIdentity() string {
	host := os.Getenv("POD_NAME")
	if host == "" {
		host, _ = os.Hostname()
	}
	return fmt.Sprintf("%s_%d", host, os.Getpid())
}

// Parse parses args (without the program name). The error is ready to print.
func Parse(args []string, stderr io.Writer) (*Options, error) {
	o := &Options{}
	fs := flag.NewFlagSet("sliceplane-operator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, Usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file; empty: in-cluster config (service account)")
	fs.StringVar(&o.ConfigPath, "config", "", "the engine's YAML config (same schema as the CLI and every binding); empty: the engine's defaults. Validated at start: an invalid config exits with status 2 naming the field")
	fs.StringVar(&o.Source, "source", "", `endpoint source, "ciliumendpoints" or "pods" (Pods, Namespaces, Nodes, CiliumNodes -> CiliumIdentities and slices, Cilium's "slim" mode); overrides the config's source; empty: the config's (default ciliumendpoints)`)
	fs.Func("rate-limits", "slice write rate limits as nodes:limit:burst steps, comma separated, mapped onto write.rateLimits (overrides --config). Default when neither sets them: Cilium's Helm default ciliumEndpointSlice.rateLimits, "+HelmDefaultRateLimits, func(v string) error {
		if _, err := ParseRateLimits(v); err != nil {
			return err
		}
		o.RateLimits, o.rateLimitSet = v, true
		return nil
	})
	fs.IntVar(&o.Parallelism, "write-parallelism", 2, "writes in flight at once (operator-side: Cilium's controller has no such setting; the engine's rate limit still bounds the write rate). Each 100-entry slice update costs the API server about 13x a CiliumEndpoint write in CPU; more writers in flight take more of its CPU from other clients when it is busy, and fewer let changes coalesce into one write per slice")
	fs.IntVar(&o.MaxBatch, "max-event-batch", 1000, "watch events applied per engine call at most")
	fs.Float64Var(&o.KubeQPS, "kube-api-qps", 100, "client-side QPS limit of the Kubernetes client (the engine's rate limit is the one that shapes slice writes)")
	fs.IntVar(&o.KubeBurst, "kube-api-burst", 200, "client-side burst of the Kubernetes client")
	fs.StringVar(&o.AdminAddress, "admin-address", "127.0.0.1:9963", "address of the admin server (/metrics, /healthz, /readyz, POST /resync); loopback by default, set e.g. :9963 in a pod so that probes and scrapes reach it")
	fs.Func("log-level", "log level: debug, info, warn or error (JSON logs on stderr; default info)", func(v string) error {
		return o.LogLevel.UnmarshalText([]byte(v))
	})
	fs.DurationVar(&o.Shutdown, "shutdown-grace", 10*time.Second, "on SIGTERM, how long writes in flight may take before they are cancelled (then the lease is released)")
	fs.BoolVar(&o.TracePropagation, "trace-propagation", false, "log a propagation trace on stderr: one JSON line per watch event (received, applied by the engine) and per write (planned, sent, answered, the slice's endpoints), Unix-nanosecond times; for latency measurements (integration/nfr1.sh), off in production")
	fs.BoolVar(&o.LeaderElect, "leader-elect", true, "run under leader election on a coordination.k8s.io Lease")
	fs.StringVar(&o.Lease.Namespace, "leader-elect-namespace", defaultNamespace(), "namespace of the Lease (default: the pod's namespace)")
	fs.StringVar(&o.Lease.Name, "leader-elect-lease-name", "sliceplane-operator", "name of the Lease")
	fs.StringVar(&o.Lease.Identity, "leader-elect-identity", defaultIdentity(), "this replica's identity in the Lease (default: pod name or hostname, and pid)")
	fs.DurationVar(&o.Lease.LeaseDuration, "leader-elect-lease-duration", 15*time.Second, "how long a lease lasts without renewal (client-go's default)")
	fs.DurationVar(&o.Lease.RenewDeadline, "leader-elect-renew-deadline", 10*time.Second, "how long the leader retries renewing before it gives up (client-go's default)")
	fs.DurationVar(&o.Lease.RetryPeriod, "leader-elect-retry-period", 2*time.Second, "interval between acquire/renew attempts (client-go's default)")
	fs.DurationVar(&o.Lease.WriteMargin, "leader-elect-write-margin", 2*time.Second, "writes stop this long before the lease could be taken by another replica (checked before every flush; each write gets that deadline)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.Source != "" && o.Source != "ciliumendpoints" && o.Source != "pods" {
		return nil, fmt.Errorf(`--source must be "ciliumendpoints" or "pods", got %q`, o.Source)
	}
	if o.Parallelism < 1 || o.Parallelism > 64 {
		return nil, fmt.Errorf("--write-parallelism must be 1..64, got %d", o.Parallelism)
	}
	if o.MaxBatch < 1 {
		return nil, fmt.Errorf("--max-event-batch must be >= 1, got %d", o.MaxBatch)
	}
	if o.KubeQPS <= 0 || o.KubeBurst < 1 {
		return nil, errors.New("--kube-api-qps must be > 0 and --kube-api-burst >= 1")
	}
	if o.Shutdown <= 0 {
		return nil, errors.New("--shutdown-grace must be > 0")
	}
	if o.LeaderElect {
		if err := o.Lease.Validate(); err != nil {
			return nil, fmt.Errorf("leader election: %w", err)
		}
	}
	return o, nil
}

// RateLimitStep is one write.rateLimits step.
type RateLimitStep struct {
	Nodes int     `json:"nodes"`
	Limit float64 `json:"limit"`
	Burst int     `json:"burst"`
}

// ParseRateLimits parses nodes:limit:burst[,...]. Values are range-checked
// by the engine's config validation.
func ParseRateLimits(v string) ([]RateLimitStep, error) {
	var out []RateLimitStep
	for _, f := range strings.Split(v, ",") {
		parts := strings.Split(strings.TrimSpace(f), ":")
		if len(parts) != 3 {
			return nil, fmt.Errorf("rate limit step %q: want nodes:limit:burst", f)
		}
		nodes, err1 := strconv.Atoi(parts[0])
		limit, err2 := strconv.ParseFloat(parts[1], 64)
		burst, err3 := strconv.Atoi(parts[2])
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("rate limit step %q: %w", f, err)
		}
		out = append(out, RateLimitStep{Nodes: nodes, Limit: limit, Burst: burst})
	}
	return out, nil
}

// ConfigError is an invalid engine config: the engine's error (stable code,
// field) and where the value came from.
type ConfigError struct {
	Origin string
	Err    error
}

func (e *ConfigError) Error() string { return e.Origin + ": " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// EngineConfig reads --config (YAML), applies the flags that map onto it,
// and validates the result with the engine. It returns the config and its
// JSON with every default filled in (logged at start).
func (o *Options) EngineConfig() (*sliceplane.Config, json.RawMessage, error) {
	var text []byte
	origin := "engine defaults"
	if o.ConfigPath != "" {
		b, err := os.ReadFile(o.ConfigPath)
		if err != nil {
			return nil, nil, &ConfigError{Origin: "--config", Err: err}
		}
		text, origin = b, "--config "+o.ConfigPath
	}
	// Validate the file as it is first, so that its errors name its fields.
	base, err := sliceplane.NewConfigFromYAML(text)
	if err != nil {
		return nil, nil, &ConfigError{Origin: origin, Err: err}
	}
	defer base.Close()
	full, err := base.JSON()
	if err != nil {
		return nil, nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(full, &doc); err != nil {
		return nil, nil, err
	}
	// Did the file set write.rateLimits itself?
	fileSetsRates := false
	if len(text) > 0 {
		asJSON, err := yaml.YAMLToJSON(text)
		if err == nil {
			var user map[string]any
			if json.Unmarshal(asJSON, &user) == nil {
				if w, ok := user["write"].(map[string]any); ok {
					_, fileSetsRates = w["rateLimits"]
				}
			}
		}
	}
	overridden := []string{}
	if o.Source != "" {
		doc["source"] = o.Source
		overridden = append(overridden, "source (--source)")
	}
	rates := ""
	switch {
	case o.rateLimitSet:
		rates = o.RateLimits
		overridden = append(overridden, "write.rateLimits (--rate-limits)")
	case !fileSetsRates:
		rates = HelmDefaultRateLimits
	}
	if rates != "" {
		steps, err := ParseRateLimits(rates)
		if err != nil {
			return nil, nil, &ConfigError{Origin: "--rate-limits", Err: err}
		}
		w, _ := doc["write"].(map[string]any)
		if w == nil {
			w = map[string]any{}
			doc["write"] = w
		}
		w["rateLimits"] = steps
	}
	merged, err := json.Marshal(doc)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := sliceplane.NewConfigFromJSON(merged)
	if err != nil {
		return nil, nil, &ConfigError{Origin: origin + " with " + strings.Join(append(overridden, "flag defaults"), ", "), Err: err}
	}
	out, err := cfg.JSON()
	if err != nil {
		cfg.Close()
		return nil, nil, err
	}
	return cfg, out, nil
}

// SourceOf is the endpoint source of a config's JSON.
func SourceOf(configJSON []byte) (string, error) {
	var v struct {
		Source string `json:"source"`
	}
	if err := json.Unmarshal(configJSON, &v); err != nil {
		return "", err
	}
	return v.Source, nil
}

// Command sliceplane-operator is the deployable CiliumEndpointSlice
// controller: client-go watches → the sliceplane engine (over its C ABI) →
// API writes, under leader election, with an admin server. See --help and
// deploy/README.md.
//
// Exit status: 0 after a graceful shutdown, 1 on a runtime error (including
// a lost lease: the pod restarts and competes again with a fresh engine),
// 2 on invalid flags or config.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/client-go/dynamic"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/klog/v2"

	"sliceplane.example/operator/internal/admin"
	"sliceplane.example/operator/internal/controller"
	"sliceplane.example/operator/internal/leader"
	"sliceplane.example/operator/internal/options"
	"sliceplane.example/sliceplane"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	opts, err := options.Parse(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sliceplane-operator:", err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: opts.LogLevel}))
	klog.SetSlogLogger(log.With("component", "client-go"))

	cfg, cfgJSON, err := opts.EngineConfig()
	if err != nil {
		log.Error("invalid engine config", "err", err.Error())
		fmt.Fprintln(os.Stderr, "sliceplane-operator:", err)
		return 2
	}
	source, err := options.SourceOf(cfgJSON)
	if err != nil {
		log.Error("engine config", "err", err.Error())
		return 2
	}
	resources, err := controller.WatchedResources(source)
	if err != nil {
		log.Error("engine config", "err", err.Error())
		return 2
	}
	log.Info("starting", "version", sliceplane.Version(), "source", source, "config", string(cfgJSON),
		"leaderElection", opts.LeaderElect, "identity", opts.Lease.Identity, "adminAddress", opts.AdminAddress)

	restCfg, err := restConfig(opts)
	if err != nil {
		log.Error("kubernetes client config", "err", err.Error())
		return 1
	}
	// The dynamic client (informers, deletes) and the raw client that sends
	// creates and updates with the engine's bytes (controller.DynamicAPI.REST)
	// share one HTTP client and one rate limiter: --kube-api-qps/-burst is
	// one budget, as with the dynamic client alone.
	apiCfg := rest.CopyConfig(restCfg)
	if apiCfg.RateLimiter == nil && apiCfg.QPS > 0 {
		// Timed: the propagation trace reports each write's wait for it.
		apiCfg.RateLimiter = &controller.TimedRateLimiter{RateLimiter: flowcontrol.NewTokenBucketRateLimiter(apiCfg.QPS, apiCfg.Burst)}
	}
	httpClient, err := rest.HTTPClientFor(apiCfg)
	if err != nil {
		log.Error("kubernetes client", "err", err.Error())
		return 1
	}
	dyn, err := dynamic.NewForConfigAndClient(apiCfg, httpClient)
	if err != nil {
		log.Error("kubernetes client", "err", err.Error())
		return 1
	}
	rawWrites, err := rest.UnversionedRESTClientForConfigAndClient(dynamic.ConfigFor(apiCfg), httpClient)
	if err != nil {
		log.Error("kubernetes client", "err", err.Error())
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	metrics := controller.NewMetrics()
	var elector *leader.Elector
	srv := &admin.Server{Metrics: metrics, LeaderElection: opts.LeaderElect}
	if opts.LeaderElect {
		// JSON, not the generated client's default protobuf: any API server
		// serves Leases as JSON (and the test API server serves them
		// from a CRD, which speaks no protobuf); the traffic is tiny.
		leaseCfg := rest.CopyConfig(restCfg)
		leaseCfg.ContentType = "application/json"
		leaseCfg.AcceptContentTypes = "application/json"
		coord, err := coordinationv1client.NewForConfig(leaseCfg)
		if err != nil {
			log.Error("kubernetes client", "err", err.Error())
			return 1
		}
		elector = &leader.Elector{Config: opts.Lease, Client: coord, Log: log}
		srv.Leading = elector.Leading
	}

	ln, err := net.Listen("tcp", opts.AdminAddress)
	if err != nil {
		log.Error("admin server", "err", err.Error())
		return 1
	}
	httpSrv := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = httpSrv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = httpSrv.Shutdown(sctx)
	}()
	log.Info("admin server listening", "address", ln.Addr().String())

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			if srv.Resync() {
				log.Info("SIGHUP: resync requested")
			} else {
				log.Info("SIGHUP: not leading, nothing to resync")
			}
		}
	}()

	// lead runs one engine and controller for one leadership term.
	lead := func(ctx context.Context, guard controller.Guard) error {
		eng, err := sliceplane.NewEngine(cfg)
		if err != nil {
			return err
		}
		defer eng.Close()
		api := &controller.DynamicAPI{Client: dyn, REST: rawWrites, Metrics: metrics, OnPruned: func(sent, stored []byte) {
			log.Warn("the API server stored a written object differently (CRD schema older than the engine's output?)", "sent", string(sent), "stored", string(stored))
		}}
		c := &controller.Controller{
			Engine: eng, API: api, Client: dyn, Metrics: metrics, Log: log,
			Resources: resources, Guard: guard,
			MaxBatch: opts.MaxBatch, Parallelism: opts.Parallelism, ShutdownGrace: opts.Shutdown,
		}
		if opts.TracePropagation {
			c.Trace = slog.New(slog.NewJSONHandler(os.Stderr, nil))
		}
		srv.SetController(c, eng)
		defer srv.SetController(nil, nil)
		return c.Run(ctx)
	}

	if elector != nil {
		err = elector.Run(ctx, func(ctx context.Context, guard *leader.TrackingLock) error { return lead(ctx, guard) })
	} else {
		err = lead(ctx, nil)
	}
	cfg.Close()
	if err != nil {
		log.Error("stopped", "err", err.Error())
		return 1
	}
	log.Info("stopped: graceful shutdown")
	return 0
}

func restConfig(o *options.Options) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if o.Kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = float32(o.KubeQPS), o.KubeBurst
	// The identity names the replica in API server logs and audit events.
	cfg.UserAgent = "sliceplane-operator/" + sliceplane.Version() + " (" + o.Lease.Identity + ")"
	return cfg, nil
}

// Command go-operator runs the sliceplane engine over a recorded watch
// stream (JSON lines, e.g. examples/cluster-watch.jsonl) against a logging
// stand-in for the Kubernetes API, and prints the writes it would send.
//
//	go run ./examples/go-operator ../examples/cluster-watch.jsonl
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"sliceplane.example/sliceplane"
)

// printAPI prints every write as a JSON line and answers success.
type printAPI struct{ version int }

func (p *printAPI) Write(_ context.Context, op sliceplane.Op) sliceplane.Outcome {
	line, _ := json.Marshal(map[string]any{"op": op.Op, "kind": op.Kind, "name": op.Name})
	fmt.Println(string(line))
	p.version++
	return sliceplane.Success(strconv.Itoa(p.version), "uid-"+op.Name)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go-operator WATCH.jsonl")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "go-operator:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	stream, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	cfg, err := sliceplane.NewConfigFromYAML([]byte("source: pods\nseed: 1\n"))
	if err != nil {
		return err
	}
	defer cfg.Close()
	eng, err := sliceplane.NewEngine(cfg)
	if err != nil {
		return err
	}
	defer eng.Close()
	var now uint64
	op := &Operator{
		Engine: eng,
		API:    &printAPI{},
		Now:    func() uint64 { return now },
		Logf:   func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) },
	}
	if err := op.Sync(stream); err != nil {
		return err
	}
	// Advance a simulated clock until nothing is pending.
	for {
		due, ok, err := eng.NextDue()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		now = max(now+100, due)
		if _, err := op.Step(context.Background(), nil); err != nil {
			return err
		}
	}
}

package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// metricRef matches a metric name in a PromQL expression of the dashboard
// or the alerting rules.
var metricRef = regexp.MustCompile(`\b(?:sliceplane|cilium_operator)_[a-z0-9_]+`)

// deployMetrics are the metric families deploy/grafana and
// deploy/prometheus use (histogram series names reduced to their family).
func deployMetrics(t testing.TB) map[string][]string {
	t.Helper()
	files := []string{
		filepath.Join("..", "deploy", "grafana", "sliceplane-operator.json"),
		filepath.Join("..", "deploy", "prometheus", "sliceplane-operator-rules.yaml"),
	}
	used := map[string][]string{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := string(raw)
		if strings.HasSuffix(f, ".yaml") {
			// Only the expressions: annotations mention metrics in prose.
			var exprs []string
			for _, line := range strings.Split(text, "\n") {
				if l := strings.TrimSpace(line); strings.HasPrefix(l, "expr:") {
					exprs = append(exprs, l)
				}
			}
			text = strings.Join(exprs, "\n")
		}
		for _, m := range metricRef.FindAllString(text, -1) {
			used[m] = append(used[m], filepath.Base(f))
		}
	}
	return used
}

// checkDeployMetrics: every metric the dashboard and the alerting rules
// use is declared in the scrape (a `# TYPE` line; histogram series by their
// family), so no panel or alert watches a name the operator does not export.
func checkDeployMetrics(t testing.TB, scrape string) {
	t.Helper()
	types := map[string]string{}
	for _, line := range strings.Split(scrape, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			types[f[2]] = f[3]
		}
	}
	var missing []string
	used := deployMetrics(t)
	for name, where := range used {
		if _, ok := types[name]; ok {
			continue
		}
		found := false
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if fam, ok := strings.CutSuffix(name, suffix); ok && types[fam] == "histogram" {
				found = true
			}
		}
		if !found {
			missing = append(missing, name+" (in "+strings.Join(where, ", ")+")")
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("the dashboard and alerts use metrics the running operator does not export: %v", missing)
	}
	if len(used) < 15 {
		t.Errorf("only %d metrics found in the dashboard and rules: the extraction is broken", len(used))
	}
	t.Logf("%d metrics used by the dashboard and the alerting rules, all exported by the running operator", len(used))
}

package testenv

import (
	"fmt"
	"os"
	"strconv"
	"testing"
)

// Figure records one measured figure for RELIABILITY.md: it is logged
// (CHAOS-FIGURE scenario name value unit) and, when scripts/chaos.sh runs
// the test, appended to the file SWITCHBOARD_CHAOS_FIGURES names, from
// which the script writes the scenario's table. Figures are measured,
// never typed: a test reports what it saw.
func Figure(t testing.TB, scenario, name string, value float64, unit string) {
	t.Helper()
	v := strconv.FormatFloat(value, 'f', -1, 64)
	t.Logf("CHAOS-FIGURE %s %s %s %s", scenario, name, v, unit)
	path := os.Getenv("SWITCHBOARD_CHAOS_FIGURES")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("figures file: %v", err)
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "%s\t%s\t%s\t%s\n", scenario, name, v, unit); err != nil {
		t.Fatalf("figures file: %v", err)
	}
}

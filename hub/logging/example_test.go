package logging_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/switchboard-health/switchboard/hub/logging"
)

// ExampleOpen_syslog writes RFC 5424 lines to a writer, as `serve` would to
// os.Stdout for a collector that reads the container's output. PHI under a
// PHI key and PHI-shaped text in an error are redacted on the way.
func ExampleOpen_syslog() {
	var out bytes.Buffer // os.Stdout in production
	logger, sink, err := logging.Open(&out, logging.Options{
		Level:      "info",
		Format:     "syslog",
		SyslogAddr: "stdout",
		Hostname:   "hub-1",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sink.Close()

	logger.Warn("delivery failed", "component", "delivery", "transfer_id", "tr_01HQ", "destination", "epic",
		"family", "Quuxley", "error", errors.New(`vendor: no match for 555-013-4567 in "Patient"`))

	// TIMESTAMP and PROCID change on every run.
	f := strings.SplitN(out.String(), " ", 6)
	f[1], f[4] = "TIMESTAMP", "PROCID"
	fmt.Fprint(os.Stdout, strings.Join(f, " "))
	// Output:
	// <132>1 TIMESTAMP hub-1 switchboard PROCID delivery [switchboard@32473 component="delivery" transfer_id="tr_01HQ" destination="epic" family="[redacted\]" error="vendor: no match for [redacted\] in \"Patient\""] delivery failed
}

// ExampleNew shows the JSON logger most of the hub uses.
func ExampleNew() {
	var out bytes.Buffer
	logger := logging.New(&out, "info", "json")
	logger.Info("patient matched", "transfer_id", "tr_01HQ", "name", "Zzyzxcanary Quuxley", "contact", "canary.patient@example.test")
	line := out.String()
	fmt.Print(line[strings.Index(line, `"msg"`):])
	// Output:
	// "msg":"patient matched","transfer_id":"tr_01HQ","name":"[redacted]","contact":"[redacted]"}
}

package main

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as vendorsim when asked to, so the real main runs
// in its own process and can take a real signal.
func TestMain(m *testing.M) {
	if os.Getenv("VENDORSIM_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestStartsAnnouncesAndShutsDownOnSIGTERM(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-addr", "127.0.0.1:0", "-latency", "300ms")
	cmd.Env = append(os.Environ(), "VENDORSIM_RUN_MAIN=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "vendorsim: EHR FHIR R4 sandbox at http://127.0.0.1:"
	if !strings.HasPrefix(line, prefix) || !strings.HasSuffix(line, "/fhir/R4\n") {
		t.Fatalf("announcement %q", line)
	}
	base := strings.TrimSpace(strings.TrimPrefix(line, "vendorsim: EHR FHIR R4 sandbox at "))

	// A request in flight when SIGTERM arrives still gets its answer.
	got := make(chan int, 1)
	go func() {
		resp, err := http.Post(base+"/Patient", "application/fhir+json", strings.NewReader(`{"resourceType":"Patient"}`))
		if err != nil {
			got <- 0
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	time.Sleep(100 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if status := <-got; status != http.StatusCreated {
		t.Errorf("in-flight request: status %d", status)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	logs := stderr.String()
	for _, want := range []string{`"msg":"fhir request"`, `"method":"POST"`, `"status":201`, `"duration_ms"`, `"msg":"vendorsim shutting down"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
}

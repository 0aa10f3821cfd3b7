// Package testprocess runs a built program in a test and reads the JSON
// lines it logs to stdout, one at a time, each with a deadline.
package testprocess

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"time"
)

// lineTimeout is how long Next waits for the program's next line.
const lineTimeout = 30 * time.Second

// Process is a running program whose stdout lines decode into L. A line that
// is not JSON is reported as a test error.
type Process[L any] struct {
	cmd    *exec.Cmd
	lines  chan L
	exited chan error
	stderr bytes.Buffer
}

// Start runs binary with exactly env; the test kills it if it still runs at
// the end.
func Start[L any](t *testing.T, binary string, env []string) *Process[L] {
	t.Helper()
	p := &Process[L]{cmd: exec.Command(binary), lines: make(chan L), exited: make(chan error, 1)}
	p.cmd.Env = env
	p.cmd.Stderr = &p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Kill() })
	go func() {
		defer close(p.lines)
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			var line L
			if err := json.Unmarshal(scanner.Bytes(), &line); err != nil {
				t.Errorf("%s logged a line that is not JSON: %s", binary, scanner.Text())
				continue
			}
			p.lines <- line
		}
		p.exited <- p.cmd.Wait()
	}()
	return p
}

// Next returns the next line, failing the test if the program exits first
// or says nothing for lineTimeout.
func (p *Process[L]) Next(t *testing.T) L {
	t.Helper()
	select {
	case line, ok := <-p.lines:
		if !ok {
			t.Fatalf("%s exited early; stderr: %s", p.cmd.Path, p.stderr.String())
		}
		return line
	case <-time.After(lineTimeout):
		t.Fatalf("no line from %s within %s", p.cmd.Path, lineTimeout)
		var none L
		return none
	}
}

// Signal sends sig to the program.
func (p *Process[L]) Signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// Rest returns every remaining line once the program has exited, and how
// it exited (with its stderr when it failed). The program has lineTimeout
// to exit.
func (p *Process[L]) Rest(t *testing.T) ([]L, error) {
	t.Helper()
	deadline := time.After(lineTimeout)
	var rest []L
	for {
		select {
		case line, ok := <-p.lines:
			if ok {
				rest = append(rest, line)
				continue
			}
			// The reader sends the exit status before it closes lines.
			if err := <-p.exited; err != nil {
				return rest, &exitError{err: err, stderr: p.stderr.String()}
			}
			return rest, nil
		case <-deadline:
			t.Fatalf("%s did not exit within %s", p.cmd.Path, lineTimeout)
			return nil, nil
		}
	}
}

type exitError struct {
	err    error
	stderr string
}

func (e *exitError) Error() string { return e.err.Error() + "; stderr: " + e.stderr }
func (e *exitError) Unwrap() error { return e.err }

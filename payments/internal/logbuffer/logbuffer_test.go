package logbuffer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// output is a log destination that tests can read while a Buffer writes.
type output struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	// failures is how many writes fail, from the first, before writes work.
	failures int
	// cutLines counts writes that end inside a line.
	cutLines int
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.writes++
	if o.failures > 0 {
		o.failures--
		return 0, errors.New("disk full")
	}
	if !bytes.HasSuffix(p, []byte("\n")) {
		o.cutLines++
	}
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// never is a flush interval that no test waits for.
const never = time.Hour

func newBuffer(t *testing.T, out *output, size int, interval time.Duration) *Buffer {
	t.Helper()
	b := New(out, size, interval)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func write(t *testing.T, b *Buffer, line string) {
	t.Helper()
	if _, err := b.Write([]byte(line)); err != nil {
		t.Fatalf("Write(%q): %v", line, err)
	}
}

func TestLogBufferHoldsLinesUntilItIsClosed(t *testing.T) {
	var out output
	b := New(&out, 4096, never)
	write(t, b, "first\n")
	write(t, b, "second\n")
	if got := out.String(); got != "" {
		t.Fatalf("output before Close = %q, want nothing yet", got)
	}

	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got, want := out.String(), "first\nsecond\n"; got != want {
		t.Errorf("output after Close = %q, want %q", got, want)
	}
	if out.writes != 1 {
		t.Errorf("the two lines took %d writes, want 1", out.writes)
	}
}

func TestLogBufferWritesLinesOutEveryInterval(t *testing.T) {
	out := make(writes, 1)
	b := New(out, 4096, 10*time.Millisecond)
	t.Cleanup(func() { _ = b.Close() })
	write(t, b, "line\n")

	select {
	case got := <-out:
		if got != "line\n" {
			t.Errorf("the interval flush wrote %q, want %q", got, "line\n")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the interval flush did not write the line out within 5s")
	}
}

// writes is an output that hands each write to the test as it happens.
type writes chan string

func (w writes) Write(p []byte) (int, error) {
	w <- string(p)
	return len(p), nil
}

func TestLogBufferWritesOutAFullBuffer(t *testing.T) {
	var out output
	b := newBuffer(t, &out, 16, never)
	write(t, b, "0123456789\n")
	write(t, b, "abcdefghij\n")

	if got, want := out.String(), "0123456789\n"; got != want {
		t.Errorf("output once the buffer is full = %q, want the first line %q", got, want)
	}
}

func TestLogBufferWritesStraightOutAfterClose(t *testing.T) {
	var out output
	b := New(&out, 4096, never)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	write(t, b, "late\n")

	if got := out.String(); got != "late\n" {
		t.Errorf("output = %q, want the line written after Close", got)
	}
}

func TestLogBufferKeepsLoggingAfterAFailedWrite(t *testing.T) {
	out := output{failures: 1}
	b := newBuffer(t, &out, 4096, never)
	write(t, b, "lost\n")
	if err := b.Flush(); err == nil {
		t.Fatal("Flush to a failing output succeeded")
	}
	write(t, b, "kept\n")
	if err := b.Flush(); err != nil {
		t.Fatalf("Flush after the output recovered: %v", err)
	}

	if got := out.String(); got != "kept\n" {
		t.Errorf("output = %q, want the line logged after the failure", got)
	}
}

func TestLogBufferKeepsConcurrentLinesWholeAndInOrder(t *testing.T) {
	const writers, linesEach = 8, 500
	line := func(w, i int) string {
		// Lines of 7 to 110 bytes.
		return fmt.Sprintf("w%d n%d %s", w, i, strings.Repeat("x", i%100))
	}
	var out output
	// A buffer smaller than some lines, so that lines span flushes.
	b := New(&out, 64, time.Millisecond)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range linesEach {
				if _, err := b.Write([]byte(line(w, i) + "\n")); err != nil {
					t.Errorf("Write: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	next := make([]int, writers)
	scanner := bufio.NewScanner(strings.NewReader(out.String()))
	for scanner.Scan() {
		var w, i int
		if _, err := fmt.Sscanf(scanner.Text(), "w%d n%d", &w, &i); err != nil || w < 0 || w >= writers {
			t.Fatalf("line %q is not a whole line", scanner.Text())
		}
		if want := line(w, next[w]); scanner.Text() != want {
			t.Fatalf("line %q out of place or cut: want %q next", scanner.Text(), want)
		}
		next[w]++
	}
	if out.cutLines > 0 {
		t.Errorf("%d writes to the output ended inside a line", out.cutLines)
	}
	for w, n := range next {
		if n != linesEach {
			t.Errorf("writer %d: %d lines written out, want %d", w, n, linesEach)
		}
	}
}

// Package logbuffer batches log lines on their way out, for the payments
// command and the benchmark that logs as it does.
package logbuffer

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// Buffer collects log lines for an io.Writer and writes them out in
// batches: when its buffer is full, every flush interval, and on Close. A
// write(2) per request line costs about as much as formatting the line;
// batching makes it one per buffer.
//
// Each Write reaches the output whole and in order, so the lines of a handler
// that writes one line per Write call (slog's JSON handler) stay intact. After
// Close, writes go straight to the output. A process killed without Close (a
// second signal, SIGKILL) loses at most the lines of one flush interval.
type Buffer struct {
	stop    chan struct{}
	stopped chan struct{}

	mu     sync.Mutex
	out    io.Writer
	buf    *bufio.Writer
	closed bool
}

// The payments command's buffer: a stop by SIGTERM or SIGINT writes out every
// line, a kill loses at most the last DefaultFlushInterval of lines.
const (
	DefaultSize          = 64 << 10
	DefaultFlushInterval = 200 * time.Millisecond
)

// New starts buffering writes to out in a buffer of size bytes,
// flushed at least every interval. Close it to flush and stop it.
func New(out io.Writer, size int, interval time.Duration) *Buffer {
	b := &Buffer{
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
		out:     out,
		buf:     bufio.NewWriterSize(out, size),
	}
	go b.flushEvery(interval)
	return b
}

// Write buffers p, writing out what is buffered first when p does not fit.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return b.out.Write(p)
	}
	// Writing out whole lines only keeps each write(2) a run of whole lines
	// for whatever reads the output line by line.
	if len(p) > b.buf.Available() {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
	}
	n, err := b.buf.Write(p) // a p larger than the buffer goes straight out
	if err != nil {
		b.dropBuffered()
	}
	return n, err
}

// Flush writes out everything buffered.
func (b *Buffer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

// Close writes out everything buffered and stops the periodic flush.
func (b *Buffer) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	// Flushed in the same critical section that closes, so no later write,
	// which goes straight out, overtakes a buffered line.
	b.closed = true
	err := b.flushLocked()
	b.mu.Unlock()

	close(b.stop)
	<-b.stopped
	return err
}

func (b *Buffer) flushEvery(interval time.Duration) {
	defer close(b.stopped)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			_ = b.Flush() // the next flush retries with what is logged next
		case <-b.stop:
			return
		}
	}
}

func (b *Buffer) flushLocked() error {
	if b.buf.Buffered() == 0 {
		return nil
	}
	err := b.buf.Flush()
	if err != nil {
		b.dropBuffered()
	}
	return err
}

// dropBuffered drops what is buffered after a failed write. A bufio.Writer
// fails every later write once one has failed; a log that stops for good
// after one lost batch would be worse than the lost batch.
func (b *Buffer) dropBuffered() {
	b.buf.Reset(b.out)
}

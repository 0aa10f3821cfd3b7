// Package logbuffer batches log lines on their way out, for the payments
// command and the benchmark that logs as it does.
package logbuffer

import (
	"io"
	"sync"
	"time"
)

// Buffer collects log lines for an io.Writer and writes them out in
// batches: when its buffer is full, every flush interval, and on Close. A
// write(2) per request line costs about as much as formatting the line;
// batching makes it one per buffer. A batch is written out after the lock
// that Write takes is let go, so requests go on logging into a second buffer
// meanwhile instead of waiting for the write.
//
// Each Write reaches the output whole and in order, so the lines of a handler
// that writes one line per Write call (slog's JSON handler) stay intact. After
// Close, writes go straight to the output. A process killed without Close (a
// second signal, SIGKILL) loses at most the lines of one flush interval.
type Buffer struct {
	out     io.Writer
	stop    chan struct{}
	stopped chan struct{}

	mu     sync.Mutex
	buf    []byte // lines not yet written out
	closed bool

	// outMu orders the writes to out: it is taken before mu is let go, so
	// batches leave in the order they were cut.
	outMu sync.Mutex
	spare []byte // under outMu: the last batch's buffer, written out and free
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
		buf:     make([]byte, 0, size),
		spare:   make([]byte, 0, size),
	}
	go b.flushEvery(interval)
	return b
}

// Write buffers p, writing out what is buffered first when p does not fit.
// A p larger than the buffer goes straight out, after what is buffered.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	if !b.closed && len(p) <= cap(b.buf)-len(b.buf) {
		b.buf = append(b.buf, p...)
		b.mu.Unlock()
		return len(p), nil
	}
	// Writing out whole lines only keeps each write(2) a run of whole lines
	// for whatever reads the output line by line.
	kept, err := b.writeOut(p)
	if err != nil && !kept {
		return 0, err
	}
	return len(p), err
}

// Flush writes out everything buffered.
func (b *Buffer) Flush() error {
	b.mu.Lock()
	_, err := b.writeOut(nil)
	return err
}

// Close writes out everything buffered and stops the periodic flush.
func (b *Buffer) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	// Cut in the same critical section that closes, so no later write,
	// which goes straight out, overtakes a buffered line.
	b.closed = true
	_, err := b.writeOut(nil)

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

// writeOut is called with mu held and lets it go. It cuts the batch of
// buffered lines, keeps p in the emptied buffer when it fits there (and the
// buffer is open), and writes out the batch, then p if not kept. A batch
// that fails to be written is dropped: a log that stopped for good after
// one lost batch would be worse than the lost batch.
func (b *Buffer) writeOut(p []byte) (kept bool, err error) {
	b.outMu.Lock()
	batch := b.buf
	b.buf = b.spare[:0]
	if kept = !b.closed && len(p) <= cap(b.buf); kept {
		b.buf = append(b.buf, p...)
	}
	b.mu.Unlock()
	defer b.outMu.Unlock()

	if len(batch) > 0 {
		_, err = b.out.Write(batch)
	}
	if err == nil && !kept && len(p) > 0 {
		_, err = b.out.Write(p)
	}
	b.spare = batch
	return kept, err
}

package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"runtime"
)

// bareAnswer has the shape and size of a payments charge answer.
var bareAnswer = []byte(`{"result":true,"charge_id":"ch_00000000000000000000000000000000","customer_id":1,"amount":356.72}` + "\n")

// bareHandler is the baseline: plain net/http reading the request body and
// answering fixed JSON, with no routing, validation, logging or metrics.
func bareHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(bareAnswer)
	})
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

func cpus() int { return runtime.NumCPU() }

func countLines(path string) (lines int, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		lines++
		size += int64(len(scanner.Bytes())) + 1
	}
	return lines, size, scanner.Err()
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// stockBody is the exact body the stock Antaeus sends for a charge.
const stockBody = `{"currency":{},"customer_id":1,"value":356.72}`

// stockChargeScript makes wrk send the stock Antaeus charge with khttp's
// headers; wrk adds Host and Content-Length.
const stockChargeScript = `wrk.method = "POST"
wrk.body = '` + stockBody + `'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "*/*"
wrk.headers["Accept-Encoding"] = "gzip, deflate"
wrk.headers["User-Agent"] = "khttp/1.0.0-SNAPSHOT"
wrk.headers["Connection"] = "keep-alive"
`

type wrkResult struct {
	requests       int
	requestsPerSec float64
	p50, p99       time.Duration
}

func runWrk(ctx context.Context, wrk, script, url string, d time.Duration, opts options) (wrkResult, error) {
	cmd := exec.CommandContext(ctx, wrk, "--latency", "-s", script,
		"-t", strconv.Itoa(opts.threads), "-c", strconv.Itoa(opts.connections),
		"-d", strconv.Itoa(int(d.Round(time.Second).Seconds()))+"s", url)
	out, err := cmd.Output()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w", err)
	}
	return parseWrk(out)
}

// parseWrk reads the requests per second and latency percentiles that
// `wrk --latency` prints, and fails on any error response or socket error.
func parseWrk(out []byte) (wrkResult, error) {
	var res wrkResult
	var err error
	scanner := bufio.NewScanner(bytes.NewReader(out))
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		switch {
		case len(fields) > 2 && fields[1] == "requests" && fields[2] == "in":
			res.requests, err = strconv.Atoi(fields[0])
		case len(fields) == 2 && fields[0] == "Requests/sec:":
			res.requestsPerSec, err = strconv.ParseFloat(fields[1], 64)
		case len(fields) == 2 && fields[0] == "50%":
			res.p50, err = time.ParseDuration(fields[1])
		case len(fields) == 2 && fields[0] == "99%":
			res.p99, err = time.ParseDuration(fields[1])
		case len(fields) > 0 && (fields[0] == "Non-2xx" || fields[0] == "Socket"):
			return res, fmt.Errorf("wrk reported %s", scanner.Text())
		}
		if err != nil {
			return res, fmt.Errorf("parse wrk output %q: %w", scanner.Text(), err)
		}
	}
	if res.requests == 0 || res.requestsPerSec == 0 || res.p99 == 0 {
		return res, fmt.Errorf("no throughput or latency in wrk output:\n%s", out)
	}
	return res, nil
}

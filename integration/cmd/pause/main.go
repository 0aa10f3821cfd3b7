// Command pause is the pod sandbox image of the test node: it holds the
// pod's namespaces and does nothing until it is told to stop, then exits 0.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// As PID 1 of its container, the process gets only the signals it
	// handles: without this, SIGTERM would be ignored.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	<-stop
}

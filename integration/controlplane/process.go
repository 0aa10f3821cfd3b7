package controlplane

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long a component gets to exit after SIGTERM before its
// whole process group is killed.
const stopGrace = 5 * time.Second

// process is one running component: its own process group, its output in a
// log file, and a channel closed when it exits.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
}

// startProcess runs binary with args in its own process group. The kernel
// kills it if the test binary dies without cleaning up (a panic, a
// `go test -timeout`), so no component outlives its test.
func startProcess(name, binary string, args []string, env []string, logDir string) (*process, error) {
	logPath := filepath.Join(logDir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// exitError reports, without blocking, why the component already exited;
// nil while it runs.
func (p *process) exitError() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited (%v); last lines of its log:\n%s", p.name, p.waitErr, p.logTail(30))
	default:
		return nil
	}
}

// stop asks the process group to terminate, then kills it after stopGrace.
func (p *process) stop() error {
	pgid := -p.cmd.Process.Pid
	if err := syscall.Kill(pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("terminate %s: %w", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(stopGrace):
		if err := syscall.Kill(pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("kill %s: %w", p.name, err)
		}
		<-p.done
	}
	// Reap any child the component left in its group.
	_ = syscall.Kill(pgid, syscall.SIGKILL)
	return nil
}

// logTail returns the last n lines the component wrote.
func (p *process) logTail(n int) string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.logPath, err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var b strings.Builder
	for _, line := range lines {
		b.WriteString("  ")
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// componentEnv is the test's environment without what would change how a
// component behaves: etcd reads every ETCD_* variable as a flag, and each
// component gets a HOME of its own so nothing reads the user's files.
func componentEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "ETCD_") || name == "HOME" || name == "KUBECONFIG" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home)
}

// Command preflight checks what `make up` needs before Pulumi runs, so that
// a missing piece is named in one sentence saying what to do, instead of
// failing late or as something else (a passphrase prompt, a pod that never
// starts): the stack file exists and is valid, its kube context exists and
// the cluster answers, and the images it runs from `make images` are on the
// cluster's nodes. It needs kubectl, as the quick start does.
//
//	go run ./cmd/preflight --stack local
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/distribution/reference"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/internal/images"
	"github.com/tinjis/tinjis/internal/stackfile"
)

// Exit codes.
const (
	exitReady   = 0
	exitProblem = 1
	exitUsage   = 2
)

// answerTimeout bounds each question to the cluster.
const answerTimeout = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("preflight", flag.ContinueOnError)
	flags.SetOutput(stderr)
	stack := flags.String("stack", "", "the Pulumi `stack` `make up` deploys")
	dir := flags.String("dir", ".", "the `directory` of Pulumi.yaml and the stack files")
	imagesDir := flags.String("images-dir", ".images", "the `directory` `make images` writes its archives to")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitReady
		}
		return exitUsage
	}
	if *stack == "" || flags.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: preflight --stack NAME [--dir DIR] [--images-dir DIR]")
		return exitUsage
	}
	p := preflight{dir: *dir, stack: *stack, imagesDir: *imagesDir}
	ready, err := p.check(ctx)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitProblem
	}
	fmt.Fprintln(stdout, ready)
	return exitReady
}

type preflight struct {
	dir, stack, imagesDir string
}

// check returns what is ready, or the first problem found.
func (p preflight) check(ctx context.Context) (string, error) {
	file := "Pulumi." + p.stack + ".yaml"
	cfg, err := p.loadStack(file)
	if err != nil {
		return "", err
	}
	if cfg.Kubernetes.Rendering() {
		return fmt.Sprintf("preflight: %s renders manifests, no cluster needed.", file), nil
	}
	if _, err := exec.LookPath("kubectl"); err != nil {
		return "", errors.New("kubectl is not on PATH: install it (https://kubernetes.io/docs/tasks/tools/), make up asks the cluster with it before deploying.")
	}
	kube, cleanup, err := newKubectl(cfg.Kubernetes)
	if err != nil {
		return "", err
	}
	defer cleanup()
	if err := p.checkContext(ctx, kube, file); err != nil {
		return "", err
	}
	if err := p.checkImages(ctx, kube, cfg); err != nil {
		return "", err
	}
	return fmt.Sprintf("preflight: %s is valid, the cluster of context %s answers, and the images from make images are on its nodes.", file, kube.context), nil
}

// loadStack reads and validates the stack file as the program would.
func (p preflight) loadStack(file string) (config.Config, error) {
	_, err := os.Stat(filepath.Join(p.dir, file))
	if errors.Is(err, os.ErrNotExist) {
		committed, _ := stackfile.Committed(p.dir)
		return config.Config{}, fmt.Errorf("There is no %s: the stacks are %s; run make up STACK=<one of them>, or write %s for a stack of your own (docs/configuration.md).",
			file, strings.Join(committed, ", "), file)
	}
	if err != nil {
		return config.Config{}, err
	}
	values, err := stackfile.Load(p.dir, p.stack)
	if err != nil {
		return config.Config{}, fmt.Errorf("%s is not a stack file: %w", file, err)
	}
	cfg, err := config.Load(p.stack, values)
	if err != nil {
		return config.Config{}, fmt.Errorf("%s is not valid, fix it first: %w", file, err)
	}
	return cfg, nil
}

// kubectl runs kubectl against the stack's cluster.
type kubectl struct {
	kubeconfig, context string
}

// newKubectl points kubectl at the kubeconfig and context the stack names.
// A kubeconfig given as content goes into a temporary file, removed by
// cleanup.
func newKubectl(k config.Kubernetes) (kubectl, func(), error) {
	kube := kubectl{kubeconfig: k.Kubeconfig, context: k.Context}
	if !strings.Contains(k.Kubeconfig, "\n") {
		return kube, func() {}, nil
	}
	file, err := os.CreateTemp("", "preflight-kubeconfig-*")
	if err != nil {
		return kube, nil, err
	}
	cleanup := func() { os.Remove(file.Name()) }
	if _, err := file.WriteString(k.Kubeconfig); err != nil {
		file.Close()
		cleanup()
		return kube, nil, err
	}
	if err := file.Close(); err != nil {
		cleanup()
		return kube, nil, err
	}
	kube.kubeconfig = file.Name()
	return kube, cleanup, nil
}

func (k kubectl) run(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	var global []string
	if k.kubeconfig != "" {
		global = append(global, "--kubeconfig", k.kubeconfig)
	}
	if k.context != "" {
		global = append(global, "--context", k.context)
	}
	cmd := exec.CommandContext(ctx, "kubectl", append(global, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		reason := strings.TrimSpace(stderr.String())
		if line, _, _ := strings.Cut(reason, "\n"); line != "" {
			reason = line
		} else {
			reason = err.Error()
		}
		return "", errors.New(reason)
	}
	return string(out), nil
}

// kindCluster is the kind cluster behind a context kind named, or "".
func kindCluster(context string) string {
	name, ok := strings.CutPrefix(context, "kind-")
	if !ok {
		return ""
	}
	return name
}

func (p preflight) checkContext(ctx context.Context, kube kubectl, file string) error {
	if kube.context != "" {
		contexts, err := kubectl{kubeconfig: kube.kubeconfig}.run(ctx, "config", "get-contexts", "--output", "name")
		if err != nil {
			return fmt.Errorf("kubectl cannot read your kubeconfig (%s): fix it, then run make up again.", err)
		}
		if !slices.Contains(strings.Fields(contexts), kube.context) {
			if cluster := kindCluster(kube.context); cluster != "" {
				return fmt.Errorf("The kube context %s of %s is not in your kubeconfig: create the cluster with `kind create cluster --config docs/kind.yaml` (kind names its context kind-%s), then run make up again.",
					kube.context, file, cluster)
			}
			if len(strings.Fields(contexts)) == 0 {
				return fmt.Errorf("The kube context %s of %s is not in your kubeconfig, which has no context: add it (KUBECONFIG names the file), then run make up again.", kube.context, file)
			}
			return fmt.Errorf("The kube context %s of %s is not in your kubeconfig: add it, or set tinjis:kubernetes.context in %s to one of: %s.",
				kube.context, file, file, strings.Join(strings.Fields(contexts), ", "))
		}
	}
	if _, err := kube.run(ctx, "get", "--raw", "/readyz"); err != nil {
		if cluster := kindCluster(kube.context); cluster != "" {
			return fmt.Errorf("The cluster of context %s does not answer (%s): start it (`docker start %s-control-plane`) or create it (`kind create cluster --config docs/kind.yaml`), then run make up again.",
				kube.context, err, cluster)
		}
		return fmt.Errorf("The cluster of context %s does not answer (%s): check that it runs and that you can reach it, then run make up again.", kube.context, err)
	}
	return nil
}

// checkImages requires every image of the stack that `make images` writes
// to be on a node already: those are never pulled from anywhere.
func (p preflight) checkImages(ctx context.Context, kube kubectl, cfg config.Config) error {
	listed, err := kube.run(ctx, "get", "nodes", "--output", "jsonpath={.items[*].status.images[*].names[*]}")
	if err != nil {
		return fmt.Errorf("kubectl cannot list the cluster's nodes (%s): make up needs a user who can.", err)
	}
	onNodes := map[string]bool{}
	for _, name := range strings.Fields(listed) {
		onNodes[normalized(name)] = true
	}
	for _, image := range []string{cfg.Payments.Image, cfg.Antaeus.Image} {
		archive, built := builtBy(image)
		if !built || onNodes[normalized(image)] {
			continue
		}
		path := filepath.Join(p.imagesDir, archive.File)
		if rel, err := filepath.Rel(p.dir, path); err == nil && !strings.HasPrefix(rel, "..") {
			path = rel
		}
		if cluster := kindCluster(kube.context); cluster != "" {
			return fmt.Errorf("The image %s is on none of the cluster's nodes: run `make images`, then `kind load image-archive %s --name %s`, then make up again.",
				image, path, cluster)
		}
		return fmt.Errorf("The image %s is on none of the cluster's nodes: run `make images` and import %s on every node (`ctr -n k8s.io images import`), then make up again.",
			image, path)
	}
	return nil
}

// builtBy returns the archive of `make images` holding image.
func builtBy(image string) (images.Archive, bool) {
	for _, archive := range images.Archives {
		if normalized(archive.Spec("").Ref) == normalized(image) {
			return archive, true
		}
	}
	return images.Archive{}, false
}

// normalized is the name containerd and the kubelet give an image
// ("pause:1" is "docker.io/library/pause:1"); a name it cannot read stays.
func normalized(image string) string {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return image
	}
	return named.String()
}

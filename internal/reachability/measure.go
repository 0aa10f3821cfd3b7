package reachability

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Prober makes one fresh connection from a pod to a destination address and
// port, and reports whether it was established. An error means the probe
// itself could not be made (the source's agent did not answer), not that
// the connection was refused.
type Prober func(ctx context.Context, from *corev1.Pod, protocol corev1.Protocol, to netip.AddrPort) (bool, error)

// probeInterval is the pause between two probes of a cell whose verdict is
// not yet the expected one.
const probeInterval = 200 * time.Millisecond

// Measure decides every cell by real connections: from every pod of the
// source to every destination pod (or address), each connection fresh. The
// network applies policy changes and new pods' addresses asynchronously, so
// each cell is probed until it shows the verdict expect has for it, or
// until timeout; then the last verdict seen stands. Cells are measured
// concurrently.
func (s Snapshot) Measure(ctx context.Context, sources []Source, destinations []Destination, probe Prober, expect Matrix, timeout time.Duration) (Matrix, error) {
	pods := s.networkedPods()
	m := newMatrix(sources, destinations)
	var (
		mu       sync.Mutex
		firstErr error
		group    sync.WaitGroup
	)
	for _, dst := range destinations {
		var dstPods []*corev1.Pod
		var err error
		if !dst.outsideCluster() {
			if dstPods, err = selectPods(pods, dst.Pods, "destination "+dst.Name); err != nil {
				return Matrix{}, err
			}
		}
		for _, src := range sources {
			pair := Pair{src.Name, dst.Name}
			if !dst.outsideCluster() && src.Pods.equal(dst.Pods) {
				m.verdicts[pair] = Self
				continue
			}
			srcPods, err := selectPods(pods, src.Pods, "source "+src.Name)
			if err != nil {
				return Matrix{}, err
			}
			targets, err := addressesOf(dst, dstPods)
			if err != nil {
				return Matrix{}, err
			}
			group.Add(1)
			go func() {
				defer group.Done()
				v, err := measureCell(ctx, srcPods, dst.Protocol, targets, probe, expect.Verdict(src.Name, dst.Name), timeout)
				mu.Lock()
				defer mu.Unlock()
				m.verdicts[pair] = v
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("%s: %w", pair, err)
				}
			}()
		}
	}
	group.Wait()
	return m, firstErr
}

// addressesOf lists where the destination's connections go.
func addressesOf(dst Destination, pods []*corev1.Pod) ([]netip.AddrPort, error) {
	if dst.outsideCluster() {
		return []netip.AddrPort{netip.AddrPortFrom(dst.Address, uint16(dst.Port.IntValue()))}, nil
	}
	var targets []netip.AddrPort
	for _, pod := range pods {
		port, err := dst.portOn(pod)
		if err != nil {
			return nil, err
		}
		address, err := netip.ParseAddr(pod.Status.PodIP)
		if err != nil {
			return nil, fmt.Errorf("pod %s/%s address: %w", pod.Namespace, pod.Name, err)
		}
		targets = append(targets, netip.AddrPortFrom(address, uint16(port)))
	}
	return targets, nil
}

// measureCell probes every (source pod, target) connection until their
// verdict is want or timeout passes, and returns the last verdict.
func measureCell(ctx context.Context, sources []*corev1.Pod, protocol corev1.Protocol, targets []netip.AddrPort, probe Prober, want Verdict, timeout time.Duration) (Verdict, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last Verdict
	var probeErr error
	_ = wait.PollUntilContextCancel(ctx, probeInterval, true, func(ctx context.Context) (bool, error) {
		connected, attempts := 0, 0
		for _, from := range sources {
			for _, to := range targets {
				ok, err := probe(ctx, from, protocol, to)
				if err != nil {
					probeErr = err
					return false, nil
				}
				attempts++
				if ok {
					connected++
				}
			}
		}
		probeErr = nil
		switch connected {
		case 0:
			last = Denied
		case attempts:
			last = Allowed
		default:
			last = Mixed
		}
		return last == want, nil
	})
	return last, probeErr
}

package reachability

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/np-guard/netpol-analyzer/pkg/netpol/eval"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Snapshot holds the objects NetworkPolicy verdicts depend on: as a
// cluster's API server returns them, or as a program declares them (see
// PlannedPod).
type Snapshot struct {
	Namespaces      []corev1.Namespace
	Pods            []corev1.Pod
	NetworkPolicies []networkingv1.NetworkPolicy
}

// Evaluate decides every connection from each source's pods to each
// destination. A source or destination must select at least one running
// pod with an address; pods being deleted or not yet scheduled are left
// out, as a CNI has no address to apply policies to.
func (s Snapshot) Evaluate(sources []Source, destinations []Destination) (Matrix, error) {
	warnings := &warningLog{}
	engine, err := s.engine(warnings)
	if err != nil {
		return Matrix{}, err
	}
	pods := s.networkedPods()
	sourcePods := make([][]*corev1.Pod, len(sources))
	for i, src := range sources {
		if sourcePods[i], err = selectPods(pods, src.Pods, "source "+src.Name); err != nil {
			return Matrix{}, err
		}
	}
	m := newMatrix(sources, destinations)
	for _, dst := range destinations {
		var dstPods []*corev1.Pod
		if !dst.outsideCluster() {
			if dstPods, err = selectPods(pods, dst.Pods, "destination "+dst.Name); err != nil {
				return Matrix{}, err
			}
		}
		for i, src := range sources {
			if !dst.outsideCluster() && src.Pods.equal(dst.Pods) {
				m.verdicts[Pair{src.Name, dst.Name}] = Self
				continue
			}
			v, err := verdict(engine, sourcePods[i], dst, dstPods)
			if err != nil {
				return Matrix{}, fmt.Errorf("%s -> %s: %w", src.Name, dst.Name, err)
			}
			m.verdicts[Pair{src.Name, dst.Name}] = v
		}
	}
	m.Warnings = warnings.list
	return m, nil
}

// engine loads the snapshot into a policy engine: namespaces first, as
// pods and policies are resolved against them.
func (s Snapshot) engine(warnings *warningLog) (*eval.PolicyEngine, error) {
	engine, err := eval.NewPolicyEngineWithOptionsList(eval.WithLogger(warnings))
	if err != nil {
		return nil, err
	}
	for i := range s.Namespaces {
		if err := engine.InsertObject(s.Namespaces[i].DeepCopy()); err != nil {
			return nil, fmt.Errorf("namespace %s: %w", s.Namespaces[i].Name, err)
		}
	}
	for i := range s.NetworkPolicies {
		np := s.NetworkPolicies[i].DeepCopy()
		if err := engine.InsertObject(np); err != nil {
			return nil, fmt.Errorf("network policy %s/%s: %w", np.Namespace, np.Name, err)
		}
	}
	for _, pod := range s.networkedPods() {
		if err := engine.InsertObject(pod.DeepCopy()); err != nil {
			return nil, fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
	}
	return engine, nil
}

// networkedPods are the pods a CNI would apply policies to: scheduled,
// with an address, not being deleted.
func (s Snapshot) networkedPods() []*corev1.Pod {
	var pods []*corev1.Pod
	for i := range s.Pods {
		p := &s.Pods[i]
		if p.Status.HostIP != "" && len(p.Status.PodIPs) > 0 && p.DeletionTimestamp == nil {
			pods = append(pods, p)
		}
	}
	return pods
}

func selectPods(pods []*corev1.Pod, sel Pods, what string) ([]*corev1.Pod, error) {
	var selected []*corev1.Pod
	for _, p := range pods {
		if sel.selects(p) {
			selected = append(selected, p)
		}
	}
	if len(selected) == 0 {
		return nil, fmt.Errorf("%s selects no running pod with an address: %s", what, sel)
	}
	return selected, nil
}

// verdict evaluates every pair of a source pod and a destination pod (or
// the destination address) and sums the answers up.
func verdict(engine *eval.PolicyEngine, sources []*corev1.Pod, dst Destination, dstPods []*corev1.Pod) (Verdict, error) {
	allowed, denied := 0, 0
	count := func(ok bool) {
		if ok {
			allowed++
		} else {
			denied++
		}
	}
	for _, src := range sources {
		if dst.outsideCluster() {
			ok, err := engine.CheckIfAllowed(podName(src), dst.Address.String(), string(dst.Protocol), dst.Port.String())
			if err != nil {
				return 0, err
			}
			count(ok)
			continue
		}
		for _, to := range dstPods {
			port, err := dst.portOn(to)
			if err != nil {
				return 0, err
			}
			ok, err := engine.CheckIfAllowed(podName(src), podName(to), string(dst.Protocol), strconv.Itoa(int(port)))
			if err != nil {
				return 0, err
			}
			count(ok)
		}
	}
	switch {
	case denied == 0:
		return Allowed, nil
	case allowed == 0:
		return Denied, nil
	default:
		return Mixed, nil
	}
}

// podName is how the engine names a pod.
func podName(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }

// warningLog keeps the engine's warnings, each once, instead of printing
// them; it implements the engine's logger.
type warningLog struct{ list []string }

func (w *warningLog) Debugf(string, ...any) {}
func (w *warningLog) Infof(string, ...any)  {}

func (w *warningLog) Warnf(format string, o ...any) { w.add(fmt.Sprintf(format, o...)) }

func (w *warningLog) Errorf(err error, format string, o ...any) {
	w.add(fmt.Sprintf(format, o...) + ": " + err.Error())
}

func (w *warningLog) add(msg string) {
	msg = strings.TrimSpace(msg)
	if !slices.Contains(w.list, msg) {
		w.list = append(w.list, msg)
	}
}

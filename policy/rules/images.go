package rules

import (
	"fmt"

	"github.com/distribution/reference"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tinjis/tinjis/infra/config"
)

const imagesDescription = "Every container image is pinned: never the mutable latest tag (nor a bare repository, " +
	"which means latest), and a digest on stacks that deploy digests only (tinjis:developerDigestsOnly)."

// latestTag is the tag a bare repository means.
const latestTag = "latest"

// images checks the image of every container of a workload.
func images(in Intent, r policyx.AnalyzerResource) []string {
	specPath, _, ok := podPaths(r.Type)
	if !ok {
		return nil
	}
	o := newObject(r)
	var holder struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	var spec corev1.PodSpec
	if err := o.decode(&holder); err != nil {
		return []string{err.Error()}
	}
	if err := decodeAt(o, specPath, &spec); err != nil {
		return []string{err.Error()}
	}
	var found []string
	for i, c := range spec.InitContainers {
		found = append(found, imageProblems(in, o, holder.Metadata.Namespace, c, fmt.Sprintf("%s.initContainers[%d].image", specPath, i))...)
	}
	for i, c := range spec.Containers {
		found = append(found, imageProblems(in, o, holder.Metadata.Namespace, c, fmt.Sprintf("%s.containers[%d].image", specPath, i))...)
	}
	return found
}

func imageProblems(in Intent, o object, namespace string, c corev1.Container, path string) []string {
	if unknown := o.unknownUnder(path); len(unknown) > 0 {
		return []string{cannotVerify("the image of container "+c.Name, unknown)}
	}
	ref, err := reference.ParseNormalizedNamed(c.Image)
	if err != nil {
		return []string{fmt.Sprintf("container %s: image %q is not a valid reference: %v", c.Name, c.Image, err)}
	}
	_, digested := ref.(reference.Digested)
	tagged, hasTag := ref.(reference.Tagged)
	switch {
	case in.Config.DeveloperDigestsOnly && !digested:
		return []string{fmt.Sprintf("container %s: image %s has no digest; this stack deploys digests only (%s): pin it as repo@sha256:...", c.Name, c.Image, config.KeyDeveloperDigestsOnly)}
	case digested:
		return nil
	case !hasTag:
		return []string{fmt.Sprintf("container %s: image %s names no tag, which means %s: pin a version tag or a digest", c.Name, c.Image, latestTag)}
	case tagged.Tag() == latestTag:
		return []string{fmt.Sprintf("container %s: image %s is the mutable %s tag: pin a version tag or a digest", c.Name, c.Image, latestTag)}
	}
	return nil
}

// podPaths are where a workload of type t holds the pod spec and the pod
// metadata it starts its pods with; ok is false for objects that start no
// pods.
func podPaths(t string) (specPath, metaPath string, ok bool) {
	switch t {
	case typePod:
		return "spec", "metadata", true
	case typeDeployment, typeStatefulSet, typeDaemonSet, typeReplicaSet, typeJob:
		return "spec.template.spec", "spec.template.metadata", true
	case typeCronJob:
		return "spec.jobTemplate.spec.template.spec", "spec.jobTemplate.spec.template.metadata", true
	}
	return "", "", false
}

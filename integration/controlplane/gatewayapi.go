package controlplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"

	"github.com/tinjis/tinjis/integration/internal/repo"
)

// GatewayAPIModule ships the Gateway API's CRDs; the cluster installs the
// standard channel of the version the program's go.mod pins, as a cluster
// that offers the Gateway API has them (a Gateway controller does not run
// here: routes are accepted by the API server, never programmed).
const GatewayAPIModule = "sigs.k8s.io/gateway-api"

// gatewayAPIStandardCRDs is where the module keeps the standard channel.
var gatewayAPIStandardCRDs = filepath.Join("config", "crd", "standard")

// installGatewayAPI creates the Gateway API CRDs and waits until the API
// server serves them.
func installGatewayAPI(ctx context.Context, apiserver *process, config *rest.Config) error {
	crds, err := gatewayAPICRDs(ctx)
	if err != nil {
		return err
	}
	client, err := apiextensions.NewForConfig(config)
	if err != nil {
		return err
	}
	for _, crd := range crds {
		if _, err := client.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create CRD %s: %w", crd.Name, err)
		}
	}
	for _, crd := range crds {
		err := waitFor(ctx, apiserver, "CRD "+crd.Name+" established", func(ctx context.Context) (bool, error) {
			got, err := client.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, c := range got.Status.Conditions {
				if c.Type == apiextensionsv1.Established {
					return c.Status == apiextensionsv1.ConditionTrue, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// gatewayAPICRDs reads every CRD of the standard channel from the pinned
// module; other objects in its files (an admission policy) are skipped.
func gatewayAPICRDs(ctx context.Context) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	dir, err := repo.ModuleDir(ctx, GatewayAPIModule)
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, gatewayAPIStandardCRDs, "*.yaml"))
	if err != nil {
		return nil, err
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var crd apiextensionsv1.CustomResourceDefinition
			err := decoder.Decode(&crd)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			if crd.Kind == "CustomResourceDefinition" {
				crds = append(crds, &crd)
			}
		}
	}
	if len(crds) == 0 {
		return nil, fmt.Errorf("no CRDs in %s", filepath.Join(dir, gatewayAPIStandardCRDs))
	}
	return crds, nil
}

package stack_test

import (
	"strings"
	"testing"

	"github.com/tinjis/tinjis/infra/config"
)

func TestInvalidConfigsAreRefusedBeforeAnyResourceIsDeclared(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name      string
		key       string
		path      []string
		value     any
		wantError string
	}{
		{"two Antaeus replicas are refused: each has its own database", config.KeyAntaeus, []string{"replicas"}, 2,
			"tinjis:antaeus.replicas must be 1, not 2: every Antaeus replica has its own SQLite database"},
		{"an unknown Antaeus flavor is refused", config.KeyAntaeus, []string{"flavor"}, "distroless",
			`tinjis:antaeus.flavor must be one of stock, prebuilt (which image runs decides its security context and egress), not "distroless"`},
		{"an image without a tag or digest is refused", config.KeyPayments, []string{"image"}, "ghcr.io/tinjis/payments",
			`tinjis:payments.image must pin a tag (repo:tag) or a digest (repo@sha256:<64 hex digits>), not the bare repository "ghcr.io/tinjis/payments"`},
		{"a digest of the wrong length is refused", config.KeyAntaeus, []string{"image"}, "ghcr.io/tinjis/antaeus@sha256:abc123",
			`tinjis:antaeus.image must be an image reference such as repo:tag or repo@sha256:<64 hex digits>, not "ghcr.io/tinjis/antaeus@sha256:abc123"`},
		{"a missing image is refused", config.KeyPayments, []string{"image"}, nil,
			"tinjis:payments.image is required"},
		{"zero payments replicas are refused", config.KeyPayments, []string{"replicas"}, 0,
			"tinjis:payments.replicas must be at least 1, not 0"},
		{"one payments replica is refused when highly available", config.KeyHighAvailability, nil, "true",
			"tinjis:payments.replicas must be at least 2 when tinjis:highAvailability is true"},
		{"a success rate above 1 is refused", config.KeyPayments, []string{"successRate"}, 50,
			`tinjis:payments.successRate must be a number from 0 to 1, got "50"`},
		{"an unknown log level is refused", config.KeyPayments, []string{"logLevel"}, "verbose",
			`tinjis:payments.logLevel must be a level: debug, info, warn or error, got "verbose"`},
		{"a drain without a unit is refused", config.KeyPayments, []string{"drain"}, "5",
			`tinjis:payments.drain must be a duration from 0s to 2m0s such as "5s", got "5"`},
		{"metrics scrapers' labels that are not labels are refused", config.KeyPayments, []string{"metrics", "from", "namespaceLabels"}, map[string]any{"kubernetes.io/metadata.name": "Monitoring!"},
			`tinjis:payments.metrics.from.namespaceLabels must hold Kubernetes labels, not "kubernetes.io/metadata.name": "Monitoring!"`},
		{"a metrics scrapers' address that is not a network is refused", config.KeyPayments, []string{"metrics", "from", "cidrs"}, []string{"10.8.0.0/16", "10.9.0.1/16"},
			`tinjis:payments.metrics.from.cidrs[1] must be a network in CIDR notation such as 172.18.0.0/16, not "10.9.0.1/16"`},
		{"a request above its limit is refused", config.KeyPayments, []string{"resources", "requests", "memory"}, "1Gi",
			"tinjis:payments.resources.requests.memory (1Gi) must not exceed tinjis:payments.resources.limits.memory (" + config.DefaultPaymentsResources.Limits.Memory + ")"},
		{"a quantity Kubernetes cannot read is refused", config.KeyAntaeus, []string{"resources", "limits", "cpu"}, "two",
			`tinjis:antaeus.resources.limits.cpu must be a Kubernetes quantity such as 500m or 256Mi, not "two"`},
		{"a misspelt field is refused, not ignored", config.KeyAntaeus, []string{"replica"}, 1,
			`tinjis:antaeus has no field "replica"`},
		{"a number where text belongs is refused", config.KeyPayments, []string{"logLevel"}, 3,
			"tinjis:payments.logLevel must be a string, not a JSON number"},
		{"no cluster and no rendering is refused: never the ambient context", config.KeyKubernetes, nil, "{}",
			"tinjis:kubernetes must set context or kubeconfig (or renderYamlToDirectory to only render manifests)"},
		{"an unknown exposure mode is refused", config.KeyExpose, nil, `{"mode":"hostPort"}`,
			`tinjis:expose.mode must be one of gateway, ingress, loadBalancer, nodePort, not "hostPort"`},
		{"gateway mode without its gateway is refused", config.KeyExpose, nil, `{"mode":"gateway"}`,
			"tinjis:expose.gateway is required when tinjis:expose.mode is gateway"},
		{"a gateway without a name is refused", config.KeyExpose, nil, gatewayExpose(`"namespace":"gw","host":"a.example.com","dataPlaneCIDRs":["10.0.0.0/8"]`),
			`tinjis:expose.gateway.name must name the Gateway the route attaches to (a Kubernetes object name), not ""`},
		{"a gateway without a namespace is refused", config.KeyExpose, nil, gatewayExpose(`"name":"public","host":"a.example.com","dataPlaneCIDRs":["10.0.0.0/8"]`),
			`tinjis:expose.gateway.namespace must be the Gateway's namespace (a DNS label), not ""`},
		{"a gateway listener that cannot be a section name is refused", config.KeyExpose, nil, gatewayExpose(`"name":"public","namespace":"gw","sectionName":"HTTPS 443","host":"a.example.com","dataPlaneCIDRs":["10.0.0.0/8"]`),
			`tinjis:expose.gateway.sectionName must name one of the Gateway's listeners (a DNS name), not "HTTPS 443"`},
		{"a gateway route without a host is refused", config.KeyExpose, nil, gatewayExpose(`"name":"public","namespace":"gw","dataPlaneCIDRs":["10.0.0.0/8"]`),
			`tinjis:expose.gateway.host must be a DNS name such as antaeus.example.com, not ""`},
		{"a gateway without its data plane is refused: the policy would admit no one", config.KeyExpose, nil, gatewayExpose(`"name":"public","namespace":"gw","host":"a.example.com"`),
			"tinjis:expose.gateway.dataPlaneNamespaceLabels or tinjis:expose.gateway.dataPlaneCIDRs is required"},
		{"a data plane address that is not a network is refused", config.KeyExpose, nil, gatewayExpose(`"name":"public","namespace":"gw","host":"a.example.com","dataPlaneCIDRs":["172.18.0.1/16"]`),
			`tinjis:expose.gateway.dataPlaneCIDRs[0] must be a network in CIDR notation such as 172.18.0.0/16, not "172.18.0.1/16"`},
		{"data plane labels that are not labels are refused", config.KeyExpose, nil, gatewayExpose(`"name":"public","namespace":"gw","host":"a.example.com","dataPlaneNamespaceLabels":{"kubernetes.io/metadata.name":"Gateway System"}`),
			`tinjis:expose.gateway.dataPlaneNamespaceLabels must hold Kubernetes labels, not "kubernetes.io/metadata.name": "Gateway System"`},
		{"gateway settings with another mode are refused", config.KeyExpose, nil, `{"mode":"nodePort","gateway":{"name":"public"}}`,
			"tinjis:expose.gateway is only used when tinjis:expose.mode is gateway, not nodePort"},
		{"an ingress without a host is refused", config.KeyExpose, nil, ingressExpose(`"controllerNamespaceLabels":{"kubernetes.io/metadata.name":"ingress-nginx"}`),
			`tinjis:expose.ingress.host must be a DNS name such as antaeus.example.com, not ""`},
		{"an ingress without the controller's namespace is refused", config.KeyExpose, nil, ingressExpose(`"host":"a.example.com"`),
			"tinjis:expose.ingress.controllerNamespaceLabels is required"},
		{"a cert-manager issuer without a Secret to write to is refused", config.KeyExpose, nil, ingressExpose(`"host":"a.example.com","controllerNamespaceLabels":{"kubernetes.io/metadata.name":"ingress-nginx"},"certManagerClusterIssuer":"letsencrypt"`),
			"tinjis:expose.ingress.tlsSecretName is required with tinjis:expose.ingress.certManagerClusterIssuer"},
		{"ingress settings with another mode are refused", config.KeyExpose, nil, `{"mode":"loadBalancer","ingress":{"host":"a.example.com"}}`,
			"tinjis:expose.ingress is only used when tinjis:expose.mode is ingress, not loadBalancer"},
		{"a node port outside the cluster's range is refused", config.KeyExpose, nil, `{"mode":"nodePort","nodePort":80}`,
			"tinjis:expose.nodePort must be from 30000 to 32767, not 80"},
		{"an environment that cannot name a namespace is refused", config.KeyEnvironment, nil, "Dev_1",
			`tinjis:environment must be a lowercase DNS label of at most 54 characters (it names the namespaces), not "Dev_1"`},
		{"a developer listed twice is refused", config.KeyDevelopers, nil, `[{"name":"alice","services":["payments"]},{"name":"alice","services":["antaeus"]}]`,
			`tinjis:developers[1].name "alice" is listed twice`},
		{"a developer of an unknown service is refused", config.KeyDevelopers, nil, `[{"name":"alice","services":["billing"]}]`,
			`tinjis:developers[0].services[0] must be one of payments, antaeus, not "billing"`},
		{"a service listed twice for one developer is refused", config.KeyDevelopers, nil, `[{"name":"alice","services":["payments","payments"]}]`,
			"tinjis:developers[0].services[1] lists payments twice"},
		{"a developer without services is refused", config.KeyDevelopers, nil, `[{"name":"alice","services":[]}]`,
			"tinjis:developers[0].services must list at least one of payments, antaeus"},
		{"a developer without a name is refused", config.KeyDevelopers, nil, `[{"services":["payments"]}]`,
			"tinjis:developers[0].name is required"},
		{"a plaintext auth token is refused", config.KeyPayments, []string{"authToken"}, "s3cret",
			"tinjis:payments.authToken must be a secret"},
		{"a stack without its deployer is refused: the image rule would hold pulumi up too", config.KeyDeployer, nil, nil,
			"tinjis:deployer is required"},
		{"a deployer who is also a developer is refused", config.KeyDeployer, nil, `{"users":["alice@tinjis.example.com"]}`,
			`tinjis:deployer.users[0] "alice@tinjis.example.com" is also a developer in tinjis:developers`},
		{"a deployer group holding every user is refused", config.KeyDeployer, nil, `{"groups":["system:authenticated"]}`,
			`tinjis:deployer.groups[0] "system:authenticated" holds every user or every ServiceAccount`},
		{"a misspelt deployer field is refused", config.KeyDeployer, nil, `{"user":["ci"]}`,
			`tinjis:deployer has no field "user"`},
		{"a host namespace that cannot be a namespace is refused", config.KeyClusterGuards, nil, `{"hostNamespaces":["Kube System"]}`,
			`tinjis:clusterGuards.hostNamespaces[0] must be a namespace name (a DNS label), not "Kube System"`},
		{"the stack's own namespace as a host namespace is refused", config.KeyClusterGuards, nil, `{"hostNamespaces":["kube-system","payments-dev"]}`,
			`tinjis:clusterGuards.hostNamespaces[1] is "payments-dev", a namespace of this stack`},
		{"cluster guards that are not an object are refused", config.KeyClusterGuards, nil, "true",
			"tinjis:clusterGuards must be an object, not a JSON bool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := committedConfig(t, "dev").with(t, tc.key, tc.path, tc.value)
			d, err := deploy(t, "dev", cfg)
			if err == nil || !strings.Contains(err.Error(), tc.wantError) {
				t.Fatalf("error %v\nwant one containing %q", err, tc.wantError)
			}
			if n := d.count(); n != 0 {
				t.Errorf("%d resources were declared before the config was refused", n)
			}
		})
	}
}

func TestEveryProblemOfAConfigIsReportedAtOnce(t *testing.T) {
	cfg := committedConfig(t, "dev").
		with(t, config.KeyAntaeus, []string{"replicas"}, 3).
		with(t, config.KeyPayments, []string{"successRate"}, -1)
	_, err := deploy(t, "dev", cfg)
	if err == nil {
		t.Fatal("the config was accepted")
	}
	for _, key := range []string{"tinjis:antaeus.replicas", "tinjis:payments.successRate"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error %q does not name %s", err, key)
		}
	}
}

// gatewayExpose is tinjis:expose in gateway mode with the given fields.
func gatewayExpose(fields string) string {
	return `{"mode":"gateway","gateway":{` + fields + `}}`
}

// ingressExpose is tinjis:expose in ingress mode with the given fields.
func ingressExpose(fields string) string {
	return `{"mode":"ingress","ingress":{` + fields + `}}`
}

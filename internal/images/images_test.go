package images_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"gopkg.in/yaml.v3"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/internal/images"
	"github.com/tinjis/tinjis/internal/ociimage"
)

const repoRoot = "../.."

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// makeBuild is the only way the Dockerfile may build the binary: the make
// target the tests and `make images` build it with.
var makeBuild = regexp.MustCompile(`(?:^|\s)make payments-binary PAYMENTS_BIN=(\S+)`)

// dockerfileDrift lists how the image the Dockerfile builds differs from
// spec: the final stage's user, ports, entrypoint, environment and files,
// and how the build stage makes the binary it copies.
func dockerfileDrift(dockerfile string, spec ociimage.Spec) ([]string, error) {
	parsed, err := parser.Parse(strings.NewReader(dockerfile))
	if err != nil {
		return nil, err
	}
	stages, _, err := instructions.Parse(parsed.AST, nil)
	if err != nil {
		return nil, err
	}
	final := stages[len(stages)-1]
	built := map[string]string{} // stage name -> the path make writes the binary to
	var drift []string
	for _, stage := range stages[:len(stages)-1] {
		for _, command := range stage.Commands {
			run, ok := command.(*instructions.RunCommand)
			if !ok {
				continue
			}
			line := strings.Join(run.CmdLine, " ")
			if strings.Contains(line, "go build") {
				drift = append(drift, "stage "+stage.Name+" runs its own go build instead of make payments-binary")
			}
			if m := makeBuild.FindStringSubmatch(line); m != nil {
				built[stage.Name] = m[1]
			}
		}
	}

	var user string
	var ports, entrypoint, env, files []string
	for _, command := range final.Commands {
		switch c := command.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.ExposeCommand:
			for _, port := range c.Ports {
				if !strings.Contains(port, "/") {
					port += "/tcp"
				}
				ports = append(ports, port)
			}
		case *instructions.EntrypointCommand:
			entrypoint = c.CmdLine
			if c.PrependShell {
				drift = append(drift, "the ENTRYPOINT is in shell form: the image would run /bin/sh")
			}
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				env = append(env, kv.Key+"="+kv.Value)
			}
		case *instructions.CopyCommand:
			for _, source := range c.SourcePaths {
				if built[c.From] != source {
					drift = append(drift, fmt.Sprintf("COPY %s %s is not the binary make payments-binary builds", source, c.DestPath))
				}
			}
			files = append(files, c.DestPath)
		}
	}

	var specPorts, specFiles []string
	for _, port := range spec.ExposedPorts {
		specPorts = append(specPorts, strconv.Itoa(port)+"/tcp")
	}
	for _, file := range spec.Files {
		specFiles = append(specFiles, file.Path)
	}
	compare := func(what string, dockerfile, spec []string) {
		if !slices.Equal(dockerfile, spec) {
			drift = append(drift, fmt.Sprintf("%s: the Dockerfile has %q, the Go spec %q", what, dockerfile, spec))
		}
	}
	compare("USER", []string{user}, []string{spec.User})
	compare("EXPOSE", ports, specPorts)
	compare("ENTRYPOINT", entrypoint, spec.Entrypoint)
	compare("ENV", env, spec.Env)
	compare("files", files, specFiles)
	return drift, nil
}

func TestTheDockerfileBuildsTheImageThePaymentsSpecDescribes(t *testing.T) {
	dockerfile := readRepoFile(t, "Dockerfile")
	spec := images.Payments("payments")

	tests := []struct {
		name       string
		dockerfile string
		want       string
	}{
		{"the Dockerfile of the repository matches", dockerfile, ""},
		{"a named user is drift", strings.Replace(dockerfile, "USER 65532:65532", "USER nonroot", 1), "USER"},
		{"another port is drift", strings.Replace(dockerfile, "EXPOSE 9000", "EXPOSE 8080", 1), "EXPOSE"},
		{"another entrypoint is drift", strings.Replace(dockerfile, `ENTRYPOINT ["/payments"]`, `ENTRYPOINT ["/payments", "-v"]`, 1), "ENTRYPOINT"},
		{"a shell-form entrypoint is drift", strings.Replace(dockerfile, `ENTRYPOINT ["/payments"]`, `ENTRYPOINT /payments`, 1), "shell form"},
		{"an environment variable is drift", strings.Replace(dockerfile, "USER 65532:65532", "ENV PAYMENTS_SEED=1\nUSER 65532:65532", 1), "ENV"},
		{"another file is drift", strings.Replace(dockerfile, "/out/payments /payments", "/out/payments /bin/payments", 1), "files"},
		{"a go build of its own is drift", strings.Replace(dockerfile, "make payments-binary PAYMENTS_BIN=/out/payments", "go build -o /out/payments ./payments", 1), "its own go build"},
		{"copying another binary is drift", strings.Replace(dockerfile, "COPY --from=build /out/payments", "COPY --from=build /out/other", 1), "COPY /out/other /payments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want != "" && tt.dockerfile == dockerfile {
				t.Fatal("the case changes nothing in the Dockerfile: update its text")
			}
			drift, err := dockerfileDrift(tt.dockerfile, spec)
			if err != nil {
				t.Fatal(err)
			}
			found := strings.Join(drift, "\n")
			switch {
			case tt.want == "" && len(drift) > 0:
				t.Errorf("the Dockerfile and images.Payments differ:\n%s", found)
			case tt.want != "" && !strings.Contains(found, tt.want):
				t.Errorf("drift found:\n%s\nwant it to name %q", found, tt.want)
			}
		})
	}
}

func TestTheDevStackDeploysThePaymentsImageMakeImagesWrites(t *testing.T) {
	var stack struct {
		Config map[string]yaml.Node `yaml:"config"`
	}
	if err := yaml.Unmarshal([]byte(readRepoFile(t, "Pulumi.dev.yaml")), &stack); err != nil {
		t.Fatal(err)
	}
	var payments struct {
		Image string `yaml:"image"`
	}
	node := stack.Config[config.KeyPayments]
	if err := node.Decode(&payments); err != nil {
		t.Fatal(err)
	}
	if payments.Image != images.PaymentsRef {
		t.Errorf("Pulumi.dev.yaml deploys %q, make images writes %q", payments.Image, images.PaymentsRef)
	}
}

func TestEveryImageBuildsFromItsBinary(t *testing.T) {
	binary := filepath.Join(t.TempDir(), "binary")
	if err := os.WriteFile(binary, []byte("a program"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		spec  ociimage.Spec
		ports []int
	}{
		{"payments listens on its default charge and metrics ports", images.Payments(binary), []int{9000, 9090}},
		{"the fake Antaeus listens on Antaeus's port", images.FakeAntaeus(binary), []int{8000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			image, err := ociimage.Build(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			config, err := image.Image.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			for _, port := range tt.ports {
				if _, ok := config.Config.ExposedPorts[strconv.Itoa(port)+"/tcp"]; !ok {
					t.Errorf("exposed ports = %v, want %d/tcp", config.Config.ExposedPorts, port)
				}
			}
			if len(config.Config.ExposedPorts) != len(tt.ports) {
				t.Errorf("exposed ports = %v, want only %v", config.Config.ExposedPorts, tt.ports)
			}
			if config.Config.User != "65532:65532" {
				t.Errorf("user = %q, want distroless's nonroot 65532:65532", config.Config.User)
			}
		})
	}
}

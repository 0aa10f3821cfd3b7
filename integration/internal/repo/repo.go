// Package repo locates the tinjis repository and the tools that
// tools/build.sh builds into it, so the integration tests run the exact
// pinned binaries whatever directory `go test` starts them in.
package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/mod/modfile"
)

// ToolsBinEnv overrides where the built tools are looked up.
const ToolsBinEnv = "TINJIS_TOOLS_BIN"

const productModule = "github.com/tinjis/tinjis"

// Root returns the repository root: the nearest directory, from the working
// directory upwards, whose go.mod declares the product module.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if declaresProductModule(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod declaring %s above the working directory", productModule)
		}
		dir = parent
	}
}

func declaresProductModule(goMod string) bool {
	data, err := os.ReadFile(goMod)
	if err != nil {
		return false
	}
	return modfile.ModulePath(data) == productModule
}

// ToolsBin returns the directory holding the built tools: $TINJIS_TOOLS_BIN,
// or .tools/bin at the repository root.
func ToolsBin() (string, error) {
	if dir := os.Getenv(ToolsBinEnv); dir != "" {
		return filepath.Abs(dir)
	}
	root, err := Root()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".tools", "bin"), nil
}

// Tool returns the absolute path of the built executable name, or an error
// telling how to build it.
func Tool(name string) (string, error) {
	bin, err := ToolsBin()
	if err != nil {
		return "", err
	}
	path := filepath.Join(bin, name)
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("%s is not built in %s: run `make tools` (tools/build.sh) or point %s at a directory holding it", name, bin, ToolsBinEnv)
	case err != nil:
		return "", err
	case info.IsDir() || info.Mode()&0o111 == 0:
		return "", fmt.Errorf("%s is not an executable file", path)
	}
	return path, nil
}

// ModuleDir returns the directory, in Go's module cache, of a module the
// product requires, at the version the product's go.mod pins.
func ModuleDir(ctx context.Context, module string) (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			err = fmt.Errorf("%w: %s", err, exitErr.Stderr)
		}
		return "", fmt.Errorf("find module %s: %w", module, err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("module %s is not downloaded: run `go mod download %s` in %s", module, module, root)
	}
	return dir, nil
}

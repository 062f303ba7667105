package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
)

// Module is the import path of this module's root.
const Module = "github.com/tpmkeyd/tpmkeyd"

// Build compiles the named commands (paths relative to the module, such as
// "cmd/tpmkeyd") into dir, as release builds (no simulator tag). It returns
// the binaries' paths in the same order.
func Build(ctx context.Context, dir string, cmds ...string) ([]string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	args := []string{"build", "-o", dir + "/"}
	bins := make([]string, 0, len(cmds))
	for _, c := range cmds {
		args = append(args, Module+"/"+c)
		bins = append(bins, filepath.Join(dir, filepath.Base(c)))
	}
	cmd := exec.CommandContext(ctx, goBin, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %v: %w\n%s", cmds, err, out)
	}
	return bins, nil
}

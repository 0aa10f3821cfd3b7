package integration

import (
	"testing"

	"github.com/tinjis/tinjis/integration/sandbox"
)

// The tests start real clusters: as root they run inside a sandbox that
// keeps the node off the host (see package sandbox).
func TestMain(m *testing.M) { sandbox.Main(m) }

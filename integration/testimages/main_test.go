package testimages_test

import (
	"testing"

	"github.com/tinjis/tinjis/integration/sandbox"
)

func TestMain(m *testing.M) { sandbox.Main(m) }

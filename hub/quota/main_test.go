package quota_test

import (
	"testing"

	"github.com/switchboard-health/switchboard/hub/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

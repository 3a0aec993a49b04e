package auth_test

import (
	"testing"

	"github.com/switchboard-health/switchboard/hub/store"
	"github.com/switchboard-health/switchboard/hub/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var dialects = []store.Dialect{store.SQLite, store.Postgres}

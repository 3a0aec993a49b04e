package store

import "embed"

// migrationsFS holds the hub's own schema, one folder per dialect with the
// same numbered files side by side. River's schema comes from rivermigrate.
//
//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrationsFS embed.FS

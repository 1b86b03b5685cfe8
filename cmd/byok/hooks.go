package main

import (
	"context"
	"io"

	"github.com/byok-go/byok/supabase/migrations"
)

// migrationList returns the migrations byok applies and judges: the embedded ones. A
// build with the byok_testhooks tag (tests only) may add some.
var migrationList = migrations.All

// afterScenarioSetup, when not nil, runs after each scenario's set-up. Only a build with
// the byok_testhooks tag sets it.
var afterScenarioSetup func(ctx context.Context, stderr io.Writer, check string) error

//go:build byok_testhooks

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"

	"github.com/byok-go/byok/supabase/migrations"
)

// Test builds only (go build -tags byok_testhooks): hooks the tests drive through the
// environment, so they can exercise what no healthy database does.
//
//   - BYOK_TEST_EXTRA_MIGRATIONS=DIR appends DIR's <version>_<name>.sql files to the
//     embedded migrations, e.g. a deliberately broken one.
//   - BYOK_TEST_PAUSE_SCENARIO=1 makes each scenario, once set up, print
//     "byok-test: scenario paused" to stderr and wait for the run to be interrupted.
func init() {
	if dir := os.Getenv("BYOK_TEST_EXTRA_MIGRATIONS"); dir != "" {
		migrationList = func() []migrations.Migration {
			all := migrations.All()
			names, _ := filepath.Glob(filepath.Join(dir, "*.sql"))
			re := regexp.MustCompile(`^([0-9]+)_(.*)\.sql$`)
			for _, name := range names {
				m := re.FindStringSubmatch(filepath.Base(name))
				sql, err := os.ReadFile(name)
				if m == nil || err != nil {
					continue
				}
				all = append(all, migrations.Migration{Version: m[1], Name: m[2], SQL: string(sql)})
			}
			return all
		}
	}
	if os.Getenv("BYOK_TEST_PAUSE_SCENARIO") == "1" {
		afterScenarioSetup = func(ctx context.Context, stderr io.Writer, check string) error {
			fmt.Fprintln(stderr, "byok-test: scenario paused")
			<-ctx.Done()
			return ctx.Err()
		}
	}
}

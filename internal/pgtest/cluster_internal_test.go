package pgtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestRequired(t *testing.T) {
	for value, want := range map[string]bool{"": false, "0": false, "false": false, "yes": false, "1": true, "true": true, "TRUE": true} {
		assert.Equal(t, want, required(env(map[string]string{requireEnv: value})), "%q", value)
	}
}

func TestFindBinDir_explicitDir(t *testing.T) {
	fake := t.TempDir()
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		require.NoError(t, os.WriteFile(filepath.Join(fake, name), []byte("#!/bin/sh\n"), 0o755))
	}
	dir, err := findBinDir(t.Context(), env(map[string]string{binEnv: fake}))
	require.NoError(t, err)
	assert.Equal(t, fake, dir)

	require.NoError(t, os.Chmod(filepath.Join(fake, "postgres"), 0o644))
	_, err = findBinDir(t.Context(), env(map[string]string{binEnv: fake}))
	require.ErrorIs(t, err, errMissing, "a program that cannot be executed does not count")

	_, err = findBinDir(t.Context(), env(map[string]string{binEnv: t.TempDir()}))
	require.ErrorIs(t, err, errMissing, "an explicit dir is not silently replaced by another")
}

func TestStackFromEnv(t *testing.T) {
	s, err := stackFromEnv(env(nil))
	require.NoError(t, err)
	assert.Equal(t, stack{}, s, "the stand-in is the default")
	assert.Equal(t, "postgres", s.superuser())

	dir := t.TempDir()
	_, err = stackFromEnv(env(map[string]string{realEnv: dir}))
	require.Error(t, err, "a folder without baseline.sql")
	assert.NotErrorIs(t, err, errMissing, "asking for the real stack never turns into a skip")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "baseline.sql"), nil, 0o644))
	s, err = stackFromEnv(env(map[string]string{realEnv: dir}))
	require.NoError(t, err)
	assert.Equal(t, stack{real: dir}, s)
	assert.Equal(t, "supabase_admin", s.superuser())
}

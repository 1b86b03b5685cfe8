//go:build !linux

package httpapi_test

import "time"

// threadCPU is not available here; the benchmarks that use it report wall time only.
func threadCPU() time.Duration { return 0 }

const haveThreadCPU = false

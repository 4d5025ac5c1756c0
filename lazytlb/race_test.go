//go:build race

package lazytlb_test

const raceEnabled = true

// enterLazy is the benchmarks' EnterLazy: an atomic store under -race,
// which would report the plain one (bench_plain_test.go) racing with the
// storm. Benchmark numbers under -race are not meaningful anyway.
func enterLazy(w *rawWord) { w.v.Store(rawLazy) }

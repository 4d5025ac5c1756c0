// Package bench holds ctdefer's side-by-side measurements: delivering work
// to a pinned worker by deferral, by IPI (to a polling or a parked worker),
// by a Go channel and by a mutex-guarded mailbox, each in the same run so
// the ratios are trustworthy on a noisy machine. It has no API: run
//
//	go test -run '^$' -bench . -count 5 ./bench/ | benchstat -
//
// Micro-benchmarks of a single package live beside that package (ctseq,
// lazytlb, grace, the root package).
package bench

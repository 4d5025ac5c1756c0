// Package liburcu measures liburcu's QSBR and memb flavours (liburcu-qsbr
// and liburcu-memb, the C libraries of Desnoyers et al.) through cgo,
// beside package grace's flavours of the same names, in the same shapes, so
// that one run on one machine gives the ratios. It has no API, and without
// the build tag liburcu it holds only this comment: the normal build, go
// vet and cross builds never see cgo.
//
// It needs Linux, cgo, a C compiler and the library's headers (Debian:
// apt-get install liburcu-dev). Run liburcu's side and ctdefer's side with
//
//	go test -tags liburcu -run '^$' -bench Liburcu ./bench/liburcu/
//	go test -run '^$' -bench QSBR ./grace/
//
// The pairs, liburcu's first:
//
//   - BenchmarkLiburcuQuiescentState and BenchmarkQSBRReport: a reader's
//     report with no grace period waiting (rcu_quiescent_state, inlined
//     with _LGPL_SOURCE: a load and a compare), called in a C loop so that
//     the cgo call is amortized; ns/op is per report.
//   - BenchmarkLiburcuQuiescentStateCgo: one cgo call per
//     rcu_quiescent_state, what a Go program that wraps liburcu (NDN-DPDK's
//     core/urcu, per burst of packets) pays today.
//   - BenchmarkLiburcuSynchronize/busy-reader and
//     BenchmarkQSBRSynchronize/busy-reader: synchronize_rcu from a writer
//     pinned to the first allowed CPU while one registered reader, a C
//     thread pinned to the last, reports in a tight loop. Both sides time
//     each call from Go (p50-ns and p99-ns; ns/op is the mean, time.Now
//     included), liburcu's with one cgo call per synchronize_rcu; liburcu's
//     also reports c-ns/op and c-p99-ns/op, the median and 99th percentile
//     of calls timed in a C loop, without cgo (each sample includes one
//     clock_gettime).
//   - BenchmarkLiburcuSynchronize/offline-reader and
//     BenchmarkQSBRSynchronize/offline-reader: the same with the reader
//     registered and then offline (rcu_thread_offline).
//   - BenchmarkMembPeers (-bench MembPeers, both sides in one run):
//     liburcu-memb's rcu_read_lock+rcu_read_unlock (in a C loop) beside
//     Handle.Lock+Unlock, and synchronize_rcu beside Synchronize with 64
//     registered readers outside their sections.
//
// The busy-reader shape needs two allowed CPUs and is skipped with fewer.
//
// The command bench/liburcu/workload runs liburcu's own benchmark loops
// (userspace-rcu's tests/benchmark/test_urcu_qsbr.c and, for urcu-memb,
// test_urcu.c) on both sides, in C threads and in goroutines, for both
// flavours (-flavour qsbr, memb or both), and fails if a reader ever sees a
// poisoned object:
//
//	go run -tags liburcu ./bench/liburcu/workload
package liburcu

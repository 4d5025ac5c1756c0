// Package percpu is the plumbing that ctdefer's per-CPU structures share:
// the root package's slots, lazytlb's and grace's per-CPU state.
//
//   - [Index]: a validated CPU list and the table from CPU number to
//     position in it ([NewIndex] refuses an empty list, a negative, too
//     large or duplicate number).
//   - [CacheLine] and the padding pattern that keeps groups written by
//     different parties on lines of their own (see [CacheLine]); [NoCopy].
//   - [Waiter]: the spin-then-sleep wait for a condition that every
//     blocking call uses, which honours its context in every phase and
//     hands the wait to the interleaving explorer (atomicx.Await).
package percpu

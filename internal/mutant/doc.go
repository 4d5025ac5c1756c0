// Package mutant holds deliberately broken variants of ctdefer's protocols
// (the races of the public discussions they come from: the two-atomic
// deferral of the LKML thread "context-tracking: Introduce work deferral
// infrastructure", the plain-store switch back of Rik van Riel's 2016 patch
// "make lazy TLB mode even lazier"), built on internal/atomicx so that both
// stress tests and the exhaustive explorer can show them failing. Never
// import it outside tests.
package mutant

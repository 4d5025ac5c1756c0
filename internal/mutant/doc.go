// Package mutant holds deliberately broken variants of ctdefer's protocols
// (the seed races), built on internal/atomicx so that both stress tests and
// the exhaustive explorer can show them failing. Never import it outside
// tests.
package mutant
